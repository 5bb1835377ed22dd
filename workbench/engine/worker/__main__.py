"""``python -m workbench.engine.worker``: serve the line protocol on stdin/stdout."""

import sys

from workbench.engine.worker.priority import lower_priority

lower_priority()  # first: threads started by the imports below inherit the priority

from workbench.engine.worker.server import main  # noqa: E402

sys.exit(main())
