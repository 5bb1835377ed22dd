"""Running the server: uvicorn on a socket bound here (so a busy port is one clear error), in
the foreground (``workbench serve``: Ctrl-C stops it) or in a thread (tests, the GUI)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from workbench.errors import RuntimeFailure
from workbench.server.app import create_app
from workbench.server.catalog import Catalog
from workbench.server.config import ServerConfig
from workbench.server.models import ModelPool
from workbench.server.routed import RouteLog, build_routers
from workbench.server.state import RequestRecord, ServerState
from workbench.store.settings import AppSettings

log = logging.getLogger("workbench.server")
GRACEFUL_S = 3.0  # open streams get this long to end once the server is asked to stop


def build_state(config: ServerConfig, *, catalog: Catalog | None = None,
                pool: ModelPool | None = None,
                on_record: Callable[[RequestRecord], None] | None = None,
                settings: AppSettings | None = None, database: Path | None = None,
                ) -> ServerState:
    """The server's state; the router's targets are built here (a cloud target without its
    key, an unknown router: BadInput / MissingKey before anything listens)."""
    catalog = catalog or Catalog.build(config.models, library=config.library)
    pool = pool or ModelPool(config.load, max_queue=config.max_queue,
                             idle_unload_s=config.idle_unload_s)
    state = ServerState(config=config, catalog=catalog, pool=pool, on_record=on_record)
    if config.cloud or config.router:
        from workbench.costs.pricing import load_pricing
        from workbench.store.settings import load_settings

        settings = settings or load_settings()
        state.routers = build_routers(cloud=config.cloud, route_default=config.route_default,
                                      router=config.router, local_models=list(config.models),
                                      catalog=catalog, settings=settings)
        state.route_log = RouteLog(load_pricing(overrides=settings.pricing_overrides),
                                   database)
    return state


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port); RuntimeFailure when it cannot."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError as err:
        raise RuntimeFailure(f"cannot listen on {host}:{port}: {err}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        why = "the port is in use (another server?)" if err.errno in (48, 98, 10048) else (
            err.strerror or str(err))
        raise RuntimeFailure(f"cannot listen on {host}:{port}: {why}") from None
    sock.setblocking(False)
    return sock


class Server(uvicorn.Server):
    """uvicorn's server that stops the answers under way before it waits for them to end."""

    def __init__(self, state: ServerState, sock: socket.socket,
                 on_started: Callable[[Server], None] | None = None) -> None:
        config = uvicorn.Config(create_app(state), log_config=None, log_level="warning",
                                access_log=False, lifespan="on",
                                timeout_graceful_shutdown=int(GRACEFUL_S))
        super().__init__(config)
        self.state = state
        self.sock = sock
        self.on_started = on_started

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started(self)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.state.pool.cancel_all()
        await super().shutdown(sockets)

    def serve_forever(self) -> None:
        """Serve until Ctrl-C (or SIGTERM); every model is unloaded on the way out."""
        try:
            self.run(sockets=[self.sock])
        except KeyboardInterrupt:  # uvicorn raises the captured Ctrl-C again once stopped
            pass
        finally:
            self.state.close()
            with contextlib.suppress(OSError):
                self.sock.close()


class BackgroundServer:
    """The server in a thread of this process: ``start()``, ``url``, ``stop()``."""

    def __init__(self, state: ServerState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.server = Server(state, bind(host, port))
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        def run() -> None:
            try:
                self.server.run(sockets=[self.server.sock])
            except BaseException as err:
                self._error = err

        self._thread = threading.Thread(target=run, name="workbench serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeFailure(f"the server did not start: {self._error}")
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the server did not start in {timeout:.0f} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.state.close()
        with contextlib.suppress(OSError):
            self.server.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
