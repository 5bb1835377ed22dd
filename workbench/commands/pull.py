"""``workbench pull REPO``: download a GGUF variant into the Hugging Face cache, verified.

The download resumes where it stopped (a cut connection, Ctrl-C, a crash, another run), is
checked against the Hub's SHA-256, and lands in the HF cache where every HF tool finds it.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from workbench.cancel import CancelToken
from workbench.terminal_text import markup_escape, terminal_safe

LOG_INTERVAL_S = 5.0


def register(subparsers: Any) -> None:
    from workbench.commands.output import add_json_flag

    parser = subparsers.add_parser(
        "pull",
        help="download a GGUF model from the Hub (resumable, SHA-256 verified)",
        description="Download a GGUF variant of a Hugging Face repository into the shared "
                    "HF cache (HF_HOME). Interrupted downloads resume from the bytes on disk; "
                    "every file is checked against the Hub's SHA-256 before it counts. A split "
                    "model downloads all its shards.",
    )
    parser.add_argument("repo", metavar="REPO", help="a repository id, e.g. owner/name-GGUF")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--quant", metavar="Q", help="the quant type, e.g. Q4_K_M")
    choice.add_argument("--file", metavar="NAME", help="a file name (any shard of a split set)")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    add_json_flag(parser)
    parser.set_defaults(func=handler)


def _size(n: float | None) -> str:
    from workbench.present.numbers import format_size

    return "?" if n is None else format_size(n)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class _LineProgress:
    """Progress as a line every few seconds and at each change of state (logs, pipes)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.last_key: tuple[str, str] | None = None

    def __call__(self, p: Any) -> None:
        key = (p.filename, p.state)
        now = time.monotonic()
        if key == self.last_key and now - self.last < LOG_INTERVAL_S:
            return
        self.last, self.last_key = now, key
        pct = f"{100 * p.bytes_done / p.bytes_total:.0f}%" if p.bytes_total else "?%"
        rate = f"{_size(p.rate_bps)}/s" if p.rate_bps else "-"
        resumed = f", resumed at {_size(p.resumed_bytes)}" if p.resumed_bytes and \
            p.state == "downloading" else ""
        print(f"{p.state} {terminal_safe(p.filename)} [{p.file_index + 1}/{p.file_count}]: {pct} "
              f"({_size(p.bytes_done)} of {_size(p.bytes_total)}, {rate}, ETA {_eta(p.eta_s)}"
              f"{resumed})", file=sys.stderr, flush=True)


class _BarProgress:
    """A rich progress bar on stderr (bytes, rate, ETA)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskID, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[have]} / {task.fields[size]}"),
            TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"),
            console=Console(stderr=True), transient=False)
        self.task: TaskID | None = None

    def __enter__(self) -> _BarProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, p: Any) -> None:
        fields: dict[str, Any] = {"have": _size(p.bytes_done), "size": _size(p.bytes_total),
                  "rate": f"{_size(p.rate_bps)}/s" if p.rate_bps else "", "eta": _eta(p.eta_s)}
        label = f"{p.state} {markup_escape(p.filename.rsplit('/', 1)[-1])}"
        if p.file_count > 1:
            label += f" [{p.file_index + 1}/{p.file_count}]"
        if self.task is None:
            self.task = self.progress.add_task(label, total=p.bytes_total or None,
                                               completed=p.bytes_done, **fields)
        else:
            self.progress.update(self.task, description=label, total=p.bytes_total or None,
                                 completed=p.bytes_done, **fields)


def handler(args: argparse.Namespace) -> int:
    from workbench.commands.output import emit
    from workbench.hub import DownloadQueue, HubConfig, repo_listing, resolve_token
    from workbench.hub.errors import DownloadCancelled
    from workbench.hub.quant import select_variant

    config = HubConfig.from_env()
    config.require_online("pull")
    token = resolve_token()
    listing = repo_listing(args.repo, revision=args.revision, config=config, token=token)
    variant = select_variant(list(listing.variants), quant=args.quant, filename=args.file)
    if not variant.complete:
        from workbench.errors import BadInput

        raise BadInput(f"{variant.name}: only {len(variant.files)} of {variant.split_count} "
                       "shards are in the repository")
    queue = DownloadQueue(config=config, token=token)
    job = queue.add(listing.repo_id, variant.files, name=variant.name, quant=variant.quant,
                    revision=args.revision)
    cancel = CancelToken()
    fancy = sys.stderr.isatty() and not args.json
    reporter: Any = _BarProgress() if fancy else _LineProgress()
    print(f"pulling {terminal_safe(listing.repo_id)} {terminal_safe(variant.name)} "
          f"({_size(variant.size)}, "
          f"{len(variant.files)} file(s)) into {config.cache_dir}", file=sys.stderr, flush=True)
    try:
        if fancy:
            with reporter:
                results = queue.run(job.id, progress=reporter, cancel=cancel)
        else:
            results = queue.run(job.id, progress=reporter, cancel=cancel)
    except KeyboardInterrupt:
        kept = queue.get(job.id).bytes_done
        print(f"workbench: interrupted: {_size(kept)} kept; run the same command to resume",
              file=sys.stderr)
        return 130
    except DownloadCancelled:
        raise
    fetched = sum(r.fetched_bytes for r in results)
    resumed = sum(r.resumed_from for r in results if not r.cached)
    document = {"repo_id": listing.repo_id, "revision": args.revision,
                "commit": listing.commit, "variant": variant.to_dict(), "job_id": job.id,
                "path": str(results[0].path), "fetched_bytes": fetched,
                "resumed_bytes": resumed, "files": [r.to_dict() for r in results]}

    def human() -> None:
        state = "already in the cache" if all(r.cached for r in results) else \
            f"downloaded {_size(fetched)}" + (f" (resumed after {_size(resumed)})"
                                               if resumed else "")
        print(f"{terminal_safe(variant.name)}: {state}, SHA-256 verified")
        print(terminal_safe(results[0].path))

    emit(args, document, human)
    return 0
