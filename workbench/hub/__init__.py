"""Hugging Face search, downloads that never lose a byte, and the local model library (Qt-free).

    search_models(query, limit=20, sort="downloads") -> [RepoSummary]
    repo_listing(repo_id, revision="main") -> RepoListing     (GGUF variants, sizes, SHA-256)
    plan_variants(variants, ctx=4096) -> {name: VariantPlan}  (fit, memory, speed; remote headers)
    Downloader().download(files, progress=cb, cancel=event) -> [DownloadedFile]
    DownloadQueue(): add / run / start / cancel / pause / resume / close (persisted jobs)
    scan_library() -> [LocalModel]; find_model; delete_model; reveal; record_use

Configuration comes from the environment at call time (``HubConfig.from_env``): HF_ENDPOINT,
HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN (see docs/downloads.md).

The package imports nothing when it is imported: each name below loads its submodule on first
use (PEP 562), so importing one hub module never imports all of hub (and, behind
``hub.planning``, the planner), and no import cycle can run through this file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.hub.auth import Token, resolve_token
    from workbench.hub.config import HubConfig
    from workbench.hub.download import (
        DownloadedFile,
        Downloader,
        DownloadProgress,
        RateMeter,
    )
    from workbench.hub.errors import (
        AuthError,
        DiskSpaceError,
        DownloadCancelled,
        DownloadError,
        HashMismatchError,
        HubError,
        LibraryError,
        NetworkError,
        NotFoundError,
        OfflineError,
    )
    from workbench.hub.library import (
        LocalModel,
        add_folder,
        delete_model,
        find_model,
        folders,
        record_use,
        remove_folder,
        reveal,
        scan_library,
    )
    from workbench.hub.planning import plan_variants
    from workbench.hub.quant import RemoteFile, Variant, group_variants, quant_from_name
    from workbench.hub.queue import DownloadJob, DownloadQueue
    from workbench.hub.remote import RepoListing, RepoSummary, repo_listing, search_models
    from workbench.planner.variant_plan import VariantPlan

_HOMES = {
    "Token": "workbench.hub.auth",
    "resolve_token": "workbench.hub.auth",
    "HubConfig": "workbench.hub.config",
    "DownloadProgress": "workbench.hub.download",
    "DownloadedFile": "workbench.hub.download",
    "Downloader": "workbench.hub.download",
    "RateMeter": "workbench.hub.download",
    "AuthError": "workbench.hub.errors",
    "DiskSpaceError": "workbench.hub.errors",
    "DownloadCancelled": "workbench.hub.errors",
    "DownloadError": "workbench.hub.errors",
    "HashMismatchError": "workbench.hub.errors",
    "HubError": "workbench.hub.errors",
    "LibraryError": "workbench.hub.errors",
    "NetworkError": "workbench.hub.errors",
    "NotFoundError": "workbench.hub.errors",
    "OfflineError": "workbench.hub.errors",
    "LocalModel": "workbench.hub.library",
    "add_folder": "workbench.hub.library",
    "delete_model": "workbench.hub.library",
    "find_model": "workbench.hub.library",
    "folders": "workbench.hub.library",
    "record_use": "workbench.hub.library",
    "remove_folder": "workbench.hub.library",
    "reveal": "workbench.hub.library",
    "scan_library": "workbench.hub.library",
    "VariantPlan": "workbench.planner.variant_plan",
    "plan_variants": "workbench.hub.planning",
    "RemoteFile": "workbench.hub.quant",
    "Variant": "workbench.hub.quant",
    "group_variants": "workbench.hub.quant",
    "quant_from_name": "workbench.hub.quant",
    "DownloadJob": "workbench.hub.queue",
    "DownloadQueue": "workbench.hub.queue",
    "RepoListing": "workbench.hub.remote",
    "RepoSummary": "workbench.hub.remote",
    "repo_listing": "workbench.hub.remote",
    "search_models": "workbench.hub.remote",
}

__all__ = [
    "AuthError",
    "DiskSpaceError",
    "DownloadCancelled",
    "DownloadError",
    "DownloadJob",
    "DownloadProgress",
    "DownloadQueue",
    "DownloadedFile",
    "Downloader",
    "HashMismatchError",
    "HubConfig",
    "HubError",
    "LibraryError",
    "LocalModel",
    "NetworkError",
    "NotFoundError",
    "OfflineError",
    "RateMeter",
    "RemoteFile",
    "RepoListing",
    "RepoSummary",
    "Token",
    "Variant",
    "VariantPlan",
    "add_folder",
    "delete_model",
    "find_model",
    "folders",
    "group_variants",
    "plan_variants",
    "quant_from_name",
    "record_use",
    "remove_folder",
    "repo_listing",
    "resolve_token",
    "reveal",
    "scan_library",
    "search_models",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'workbench.hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
