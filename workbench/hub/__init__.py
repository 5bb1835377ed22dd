"""Hugging Face search, downloads that never lose a byte, and the local model library (Qt-free).

    search_models(query, limit=20, sort="downloads") -> [RepoSummary]
    repo_listing(repo_id, revision="main") -> RepoListing     (GGUF variants, sizes, SHA-256)
    plan_variants(variants, ctx=4096) -> {name: VariantPlan}  (fit, memory, speed; remote headers)
    Downloader().download(files, progress=cb, cancel=event) -> [DownloadedFile]
    DownloadQueue(): add / run / start / cancel / pause / resume / close (persisted jobs)
    scan_library() -> [LocalModel]; find_model; delete_model; reveal; record_use

Configuration comes from the environment at call time (``HubConfig.from_env``): HF_ENDPOINT,
HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN (see docs/downloads.md).
"""

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
from workbench.hub.planning import VariantPlan, plan_variants
from workbench.hub.quant import RemoteFile, Variant, group_variants, quant_from_name
from workbench.hub.queue import DownloadJob, DownloadQueue
from workbench.hub.remote import RepoListing, RepoSummary, repo_listing, search_models

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
