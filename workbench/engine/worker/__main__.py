"""``python -m workbench.engine.worker``: serve the line protocol on stdin/stdout."""

import sys

from workbench.engine.worker.server import main

sys.exit(main())
