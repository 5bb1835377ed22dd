"""What the providers' retry loop waited for, recorded instead of timed (the waits still run)."""

from __future__ import annotations

import pytest

from workbench.cancel import CancelToken
from workbench.providers import retry


def recorded_waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, bool]]:
    """Every ``retry.wait_or_cancel(seconds, cancel)`` from now on, as ``(seconds, finished)``:
    ``finished`` False when a cancel ended the wait."""
    waits: list[tuple[float, bool]] = []
    real = retry.wait_or_cancel

    def wait(seconds: float, cancel: CancelToken) -> bool:
        finished = real(seconds, cancel)
        waits.append((seconds, finished))
        return finished

    monkeypatch.setattr(retry, "wait_or_cancel", wait)
    return waits
