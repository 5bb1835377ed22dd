"""Work counted in function calls instead of seconds: a bound that means the same on a loaded
2-core machine as on a fast one ("refused before expanding anything" is a few dozen calls,
whatever the header claims; a loop over a claimed 1e8 layers is 1e8 calls)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any


class CallCount:
    """A profile hook counting the Python and C function calls made while it is installed."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            self.calls += 1


@contextlib.contextmanager
def counted_calls() -> Iterator[CallCount]:
    """``with counted_calls() as work: ...`` then ``work.calls`` (this thread's calls only)."""
    count = CallCount()
    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        yield count
    finally:
        sys.setprofile(previous)
