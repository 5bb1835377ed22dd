"""The server's options, checked once: what address, which key, which limits."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from workbench.engine.settings import LoadSettings
from workbench.errors import BadInput

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_QUEUE = 8  # requests waiting for one model (the one being answered not counted)
DEFAULT_IDLE_UNLOAD_S = 600.0  # a model nobody asked for in this long is unloaded
MAX_BODY_BYTES = 4 * 1024 * 1024  # a bigger request body is refused (413)
API_KEY_ENV = "WORKBENCH_SERVER_API_KEY"
MIN_API_KEY_CHARS = 8


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class ServerConfig:
    """What ``workbench serve`` was started with. ``load`` is the template every model is
    loaded with (its ``model_path`` is replaced per model; ``n_ctx`` is the default context)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    models: tuple[str, ...] = ()  # --model: paths or library ids
    library: bool = True  # also serve every model of the local library
    api_key: str | None = None
    load: LoadSettings = field(default_factory=lambda: LoadSettings(model_path=""))
    idle_unload_s: float = DEFAULT_IDLE_UNLOAD_S  # 0: never
    max_queue: int = DEFAULT_MAX_QUEUE
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    # The router (workbench.routing; docs/serve.md): model id "auto" routes each request
    # between the local model and ``cloud``, by ``route_default`` and the detector; ``router``
    # is a named router configuration (routers/NAME.yaml) or its YAML file, served as
    # "router:NAME" (and as "auto" when there is no --cloud).
    router: str | None = None
    cloud: str | None = None  # --cloud TARGET: any compare target spec
    route_default: str = "local"  # --route-default local|cloud

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise BadInput(f"--port must be 0-65535, not {self.port}")
        if self.max_queue < 0:
            raise BadInput("--max-queue must be 0 or more")
        if self.idle_unload_s < 0:
            raise BadInput("--idle-unload must be 0 (never) or more seconds")
        if self.api_key is not None and len(self.api_key) < MIN_API_KEY_CHARS:
            raise BadInput(f"the API key must be at least {MIN_API_KEY_CHARS} characters")
        if not is_loopback(self.host) and not self.api_key:
            raise BadInput(
                f"--host {self.host} lets other machines reach the server: give it a key "
                f"(--api-key KEY or ${API_KEY_ENV}), or keep the default {DEFAULT_HOST}")
        if self.route_default not in ("local", "cloud"):
            raise BadInput(f"--route-default must be local or cloud, not {self.route_default!r}")
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise BadInput(f"--cors {origin!r}: an origin is '*' or like "
                               "http://localhost:3000")

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # every address: show the local one
            host = DEFAULT_HOST
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"


def api_key_from(option: str | None) -> str | None:
    """The key from --api-key, else from the environment (an empty value is none)."""
    key = option if option is not None else os.environ.get(API_KEY_ENV)
    return key or None
