"""What can go wrong when a target answers, as one kind and one clear line per failure."""

from __future__ import annotations

from workbench.errors import RuntimeFailure

# kinds (stable strings: stored in the database, shown in the UI, used by tests)
AUTH = "auth"  # 401: the key was rejected
FORBIDDEN = "forbidden"  # 403: the key may not use this model / region
NOT_FOUND = "not_found"  # 404: unknown model or wrong base URL
BAD_REQUEST = "bad_request"  # 400/422: the provider refused the request
RATE_LIMIT = "rate_limit"  # 429 (after the bounded retries)
OVERLOADED = "overloaded"  # 529 / overloaded_error
SERVER = "server"  # other 5xx
TIMEOUT = "timeout"
NETWORK = "network"  # connection refused / DNS / reset: network down or wrong address
STREAM = "stream"  # an error event or a cut after the answer had started
OFFLINE = "offline"  # offline mode is on and the target is not on this machine
NO_KEY = "no_key"  # no API key configured
LOCAL = "local"  # the local model failed (crash, hang, refused model)
INTERNAL = "internal"  # a bug in Workbench: reported, not raised into the other panes

KINDS = (AUTH, FORBIDDEN, NOT_FOUND, BAD_REQUEST, RATE_LIMIT, OVERLOADED, SERVER, TIMEOUT,
         NETWORK, STREAM, OFFLINE, NO_KEY, LOCAL, INTERNAL)


class ProviderError(RuntimeFailure):
    """A target could not answer (fully). ``partial_text`` is what streamed before it failed."""

    def __init__(self, kind: str, message: str, *, status: int | None = None,
                 retry_after_s: float | None = None, partial_text: str = "",
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        self.partial_text = partial_text


class MissingKey(ProviderError):
    def __init__(self, provider_label: str, key_name: str, env_vars: tuple[str, ...]) -> None:
        hint = " or ".join(env_vars)
        super().__init__(NO_KEY, f"no API key for {provider_label}: run `workbench keys set "
                                 f"{key_name}` or set {hint}")
        self.key_name = key_name
