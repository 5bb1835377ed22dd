"""``workbench serve``: local models behind the OpenAI and Anthropic APIs (docs/serve.md)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import TYPE_CHECKING, Any

from workbench.terminal_text import terminal_safe

if TYPE_CHECKING:
    from workbench.server.runner import Server
    from workbench.server.state import RequestRecord


def register(subparsers: Any) -> None:
    from workbench.commands.run import add_model_options
    from workbench.server.config import (
        API_KEY_ENV,
        DEFAULT_HOST,
        DEFAULT_IDLE_UNLOAD_S,
        DEFAULT_MAX_QUEUE,
        DEFAULT_PORT,
    )

    parser = subparsers.add_parser(
        "serve",
        help="serve local models through the OpenAI and Anthropic APIs (/v1/...)",
        description="An OpenAI- and Anthropic-compatible server on this machine: "
        "/v1/chat/completions, /v1/completions, /v1/messages, /v1/models, /health. Models "
        "(the --model ones and the library's, `workbench ls`) are loaded on first use, after "
        "the memory planner says they fit, and unloaded when idle. It listens on "
        f"{DEFAULT_HOST} only unless --host says otherwise, which then needs an API key.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine "
                        "only; any other needs --api-key)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--model", "-m", action="append", default=[], metavar="PATH|ID",
                        help="a GGUF file or a library model to serve (repeat for more); "
                             "PATH+lora:ADAPTER[@SCALE] serves it with a LoRA adapter, as a "
                             "model id of its own")
    parser.add_argument("--no-library", action="store_true",
                        help="serve only the --model ones, not the whole library")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help=f"require this key (Bearer token or x-api-key); also from "
                        f"${API_KEY_ENV}")
    parser.add_argument("--idle-unload", type=float, default=DEFAULT_IDLE_UNLOAD_S,
                        metavar="SECONDS", help="unload a model unused for this long "
                        f"(default {DEFAULT_IDLE_UNLOAD_S:.0f}; 0: never)")
    parser.add_argument("--max-queue", type=int, default=DEFAULT_MAX_QUEUE, metavar="N",
                        help="requests that may wait for one model; more get 429 "
                        f"(default {DEFAULT_MAX_QUEUE})")
    parser.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                        help="allow browser pages from this origin (repeat; '*': any); "
                        "default: none")
    parser.add_argument("--cloud", default=None, metavar="TARGET",
                        help="route model 'auto' between the first --model and this target "
                        "(any compare target, e.g. openai:gpt-4o-mini); sensitive requests "
                        "always stay local")
    parser.add_argument("--route-default", choices=("local", "cloud"), default="local",
                        help="where 'auto' sends a request no rule decides (default local)")
    parser.add_argument("--router", default=None, metavar="NAME|FILE",
                        help="also serve a named router configuration (routers/NAME.yaml in "
                        "the data directory, or a YAML file) as router:NAME")
    parser.add_argument("--stats", action="store_true",
                        help="print the routing split and the money saved so far, and exit")
    parser.add_argument("--json", action="store_true", help="with --stats: as JSON")
    parser.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    add_model_options(parser)
    parser.set_defaults(func=run)


def config_from(args: argparse.Namespace) -> Any:
    from workbench.commands.run import load_settings_from
    from workbench.server.config import ServerConfig, api_key_from

    load = load_settings_from(argparse.Namespace(**{**vars(args), "model": ""}))
    return ServerConfig(
        host=args.host, port=args.port, models=tuple(args.model), library=not args.no_library,
        api_key=api_key_from(args.api_key), load=load, idle_unload_s=args.idle_unload,
        max_queue=args.max_queue, cors_origins=tuple(args.cors), cloud=args.cloud,
        route_default=args.route_default, router=args.router)


def run(args: argparse.Namespace) -> int:
    from workbench.server.runner import Server, bind, build_state
    from workbench.store.secrets import install_log_redaction

    install_log_redaction()
    if args.stats:
        return _stats(args)
    config = config_from(args)  # bad options: exit 2 before anything starts
    _log_to_stderr()
    state = build_state(config, on_record=None if args.quiet else _print_record)
    models = state.catalog.models()
    sock = bind(config.host, config.port)
    config = dataclasses.replace(config, port=int(sock.getsockname()[1]))
    state.config = config
    server = Server(state, sock, on_started=lambda s: _print_banner(s, len(models)))
    server.serve_forever()
    print("workbench serve: stopped; every model unloaded", file=sys.stderr)
    return 0


def _stats(args: argparse.Namespace) -> int:
    """``--stats``: the route log's split and saving (all routers, all time)."""
    import contextlib
    import json

    from workbench.routing import log
    from workbench.store import db

    with contextlib.closing(db.connect()) as connection:
        stats = log.stats(connection)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
    else:
        print(terminal_safe("\n".join(stats.lines())))
    return 0


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("workbench serve: %(message)s"))
    logger = logging.getLogger("workbench.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _print_banner(server: Server, n_models: int) -> None:
    config = server.state.config
    first = server.state.catalog.cached()
    example = first[0].id if first else "MODEL"
    key = 'os.environ["WORKBENCH_SERVER_API_KEY"]' if config.api_key else '"none"'
    where = "this machine only" if config.host in ("127.0.0.1", "localhost", "::1") else (
        "other machines too (API key required)")
    routed = [f"{name} ({served.router.local} or {served.router.cloud or 'nothing else'}, "
              f"default {served.router.default})" for name, served in server.state.routers.items()]
    lines = [
        f"workbench serve: listening on {config.base_url} ({where}); {n_models} model"
        f"{'' if n_models == 1 else 's'} (GET /v1/models); Ctrl-C stops",
        *([f"routed: {'; '.join(routed)}"] if routed else []),
        "",
        *(["    import os"] if config.api_key else []),
        "    from openai import OpenAI",
        f'    client = OpenAI(base_url="{config.base_url}", api_key={key})',
        f"    reply = client.chat.completions.create(model={example!r},",
        '        messages=[{"role": "user", "content": "Hello"}])',
        "",
    ]
    print(terminal_safe("\n".join(lines)), flush=True)  # stdout: what the command is for


def _print_record(record: RequestRecord) -> None:
    print(f"workbench serve: {terminal_safe(record.line())}", file=sys.stderr, flush=True)
