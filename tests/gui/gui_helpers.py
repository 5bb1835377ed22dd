"""Moved to tests/helpers/gui.py. This re-export is temporary (for tests written meanwhile); to
be removed."""

from tests.helpers.gui import (  # noqa: F401
    ANSWER_TIMEOUT_MS,
    LOAD_TIMEOUT_MS,
    LONG,
    ask,
    load_model,
    start_long_answer,
    type_and_send,
)
