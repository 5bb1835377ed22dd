"""``workbench serve`` in this process on a free loopback port, for the server's tests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.engine.settings import LoadSettings
from workbench.server.catalog import Catalog, explicit_model
from workbench.server.config import ServerConfig
from workbench.server.models import ModelPool
from workbench.server.runner import BackgroundServer, build_state

# Repacking off: the tests need no repacking probe (and its child process) before a load.
TEST_LOAD = LoadSettings(model_path="", n_ctx=2048, repack=False)


@contextlib.contextmanager
def serving(*models: Path, load: LoadSettings = TEST_LOAD, **options: Any,
            ) -> Iterator[BackgroundServer]:
    """A running server for ``models`` (no library); ``options`` are ServerConfig fields."""
    pool_options = {k: options.pop(k) for k in ("memory",) if k in options}
    config = ServerConfig(port=0, models=tuple(str(m) for m in models), library=False,
                          load=load, **options)
    catalog = Catalog([explicit_model(str(m), None) for m in models])
    pool = ModelPool(config.load, max_queue=config.max_queue,
                     idle_unload_s=config.idle_unload_s, **pool_options)
    state = build_state(config, catalog=catalog, pool=pool)
    server = BackgroundServer(state)
    server.start()
    state.config = dataclasses.replace(config, port=server.port)
    try:
        yield server
    finally:
        server.stop()
