"""What can go wrong with the inference worker, as types the CLI and GUI can act on."""

from __future__ import annotations

import re
import signal

from workbench.errors import BadInput, RuntimeFailure

_ASSERT = re.compile(r"(GGML_ASSERT\(.*\) failed|GGML_ABORT.*|error: .*|terminate called.*)")


class EngineError(RuntimeFailure):
    """The worker answered a request with an error it survived (``kind`` from the protocol)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ModelRejected(BadInput):
    """llama.cpp refused the model file (unsupported architecture, malformed tensors, ...)."""


class ContextOverflow(BadInput):
    """The conversation does not fit the loaded context."""


class WorkerCrashed(RuntimeFailure):
    """The worker process died. ``cause`` names the signal or exit code; ``log_tail`` holds
    llama.cpp's last lines; ``partial_text`` what was streamed before it died."""

    def __init__(
        self,
        *,
        during: str,
        returncode: int | None,
        log_tail: list[str],
        partial_text: str = "",
        cause: str | None = None,
    ) -> None:
        self.during = during
        self.returncode = returncode
        self.log_tail = log_tail
        self.partial_text = partial_text
        self.cause = cause or describe_exit(returncode)
        self.detail = find_reason(log_tail)
        message = f"the model process crashed while {during}: {self.cause}"
        if self.detail:
            message += f" ({self.detail})"
        super().__init__(message)

    @property
    def signal_name(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


class WorkerHung(WorkerCrashed):
    """The worker stopped answering (no heartbeat within the watchdog time) and was killed."""


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = {
            "SIGSEGV": "a segmentation fault in native code",
            "SIGABRT": "llama.cpp aborted",
            "SIGILL": "an instruction this CPU does not permit",
            "SIGKILL": "killed, possibly by the out-of-memory killer",
            "SIGBUS": "a bus error (a truncated or changing model file?)",
            "SIGFPE": "an arithmetic fault in native code",
        }.get(name)
        return f"{name}, {hint}" if hint else name
    if returncode == 134:  # abort() seen through a shell
        return "exit code 134, llama.cpp aborted"
    return f"exit code {returncode}"


def find_reason(log_tail: list[str]) -> str | None:
    """The most telling line of llama.cpp's log, e.g. the failed GGML_ASSERT."""
    for line in reversed(log_tail):
        match = _ASSERT.search(line)
        if match:
            return match.group(1).strip()[:300]
    return None
