"""``python -m workbench.engine.worker``: serve the line protocol on stdin/stdout."""

import signal
import sys

from workbench.engine.worker.priority import lower_priority

lower_priority()  # first: threads started by the imports below inherit the priority
# Ctrl-C in a terminal reaches the whole process group: the app decides what it means and stops
# this process itself, so a Ctrl-C never looks like a crash of the model (and a safe-mode retry)
signal.signal(signal.SIGINT, signal.SIG_IGN)

from workbench.engine.worker.server import main  # noqa: E402

sys.exit(main())
