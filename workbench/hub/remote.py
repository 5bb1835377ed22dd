"""Hub metadata through huggingface_hub's ``HfApi``: search GGUF repos, list a repo's GGUF files.

Every huggingface_hub or transport exception becomes one of this package's errors with one
clear line (401/403 gated or private, 404, offline, unreachable).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workbench.hub.auth import Token, resolve_token
from workbench.hub.config import HubConfig, offline_block
from workbench.hub.errors import AuthError, HubError, NetworkError, NotFoundError, OfflineError
from workbench.hub.names import checked_commit, checked_filename, checked_hex
from workbench.hub.quant import RemoteFile, Variant, group_variants

SORTS = {"downloads": "downloads", "likes": "likes", "updated": "last_modified",
         "trending": "trending_score"}
SEARCH_EXPAND = ["author", "downloads", "likes", "lastModified", "gated", "tags", "gguf",
                 "private"]


@dataclass(frozen=True)
class RepoSummary:
    """One search result: a GGUF repository."""

    repo_id: str
    author: str | None
    downloads: int | None
    likes: int | None
    updated: str | None  # ISO 8601
    gated: str | bool | None  # False, "auto" or "manual"
    license: str | None
    architecture: str | None
    parameters: int | None
    context_length: int | None
    private: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RepoListing:
    """A repository at a revision: its metadata and its GGUF variants."""

    repo_id: str
    revision: str
    commit: str | None
    author: str | None
    downloads: int | None
    likes: int | None
    updated: str | None
    gated: str | bool | None
    license: str | None
    variants: tuple[Variant, ...]
    other_files: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "revision": self.revision, "commit": self.commit,
                "author": self.author, "downloads": self.downloads, "likes": self.likes,
                "updated": self.updated, "gated": self.gated, "license": self.license,
                "variants": [v.to_dict() for v in self.variants],
                "other_files": list(self.other_files)}


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _license(tags: list[str] | None, card_data: Any = None) -> str | None:
    if card_data is not None:
        value = getattr(card_data, "license", None)
        if value is None and isinstance(card_data, dict):
            value = card_data.get("license")
        if isinstance(value, str) and value:
            return value
    for tag in tags or []:
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def _status(err: Exception) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


@contextlib.contextmanager
def hub_errors(what: str, *, token: Token | None, config: HubConfig) -> Iterator[None]:
    """Translate huggingface_hub's and httpx2's exceptions for ``what`` (e.g. "repo X")."""
    import httpx2
    from huggingface_hub import errors as hf

    try:
        yield
    except hf.OfflineModeIsEnabled:
        raise OfflineError(f"offline: {what} needs the Hub and HF_HUB_OFFLINE is set") from None
    except hf.GatedRepoError:
        raise AuthError(gated_message(what, token)) from None
    except hf.RevisionNotFoundError:
        raise NotFoundError(f"{what}: no such revision on {config.endpoint}") from None
    except hf.RemoteEntryNotFoundError:
        raise NotFoundError(f"{what}: no such file on {config.endpoint}") from None
    except hf.RepositoryNotFoundError:
        hint = ("" if token else " (a private repo needs a token: set HF_TOKEN or log in "
                "with `hf auth login`)")
        raise NotFoundError(f"{what}: no such repository on {config.endpoint}{hint}") from None
    except hf.HfHubHTTPError as err:
        code = _status(err)
        if code in (401, 403):
            raise AuthError(gated_message(what, token, code)) from None
        if code == 404:
            raise NotFoundError(f"{what}: not found on {config.endpoint} (HTTP 404)") from None
        raise HubError(f"{what}: the Hub answered HTTP {code}") from None
    except (httpx2.TimeoutException, TimeoutError):
        raise NetworkError(f"{what}: {config.endpoint} did not answer in time") from None
    except (httpx2.TransportError, ConnectionError) as err:
        if offline_block(err) is not None:
            raise OfflineError(f"offline: {what} needs the Hub and offline mode is on "
                               "(nothing leaves this machine)") from None
        raise NetworkError(f"{what}: cannot reach {config.endpoint} "
                           f"({type(err).__name__})") from None
    except (ValueError, KeyError, TypeError) as err:  # malformed JSON or fields
        raise HubError(f"{what}: unexpected answer from {config.endpoint}: "
                       f"{type(err).__name__}: {err}") from None


def gated_message(what: str, token: Token | None, code: int | None = None) -> str:
    """The message for HTTP 401/403 on a gated or private repository."""
    status = f"HTTP {code}: " if code else ""
    if token is None:
        return (f"{what}: {status}gated or private: this needs a Hugging Face token (set "
                "HF_TOKEN, or log in with `hf auth login`) with access to the repository")
    return (f"{what}: {status}access refused with the token from {token.source}: accept the "
            "model's licence on its Hub page, or use a token that has access")


def _api(config: HubConfig, token: Token | None) -> Any:
    from huggingface_hub import HfApi

    # token=False: never let huggingface_hub pick a token by itself (we resolved it already)
    return HfApi(endpoint=config.endpoint, token=token.value if token else False,
                 library_name="workbench")


def search_models(query: str, *, limit: int = 20, sort: str = "downloads",
                  config: HubConfig | None = None,
                  token: Token | None = None) -> list[RepoSummary]:
    """GGUF repositories whose id contains ``query``, most downloaded (or ``sort``) first."""
    config = config or HubConfig.from_env()
    config.require_online("search")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    token = token if token is not None else resolve_token()
    api = _api(config, token)
    out = []
    with hub_errors(f"search {query!r}", token=token, config=config):
        for info in api.list_models(search=query or None, filter="gguf", sort=SORTS[sort],
                                    limit=limit, expand=SEARCH_EXPAND):
            gguf = info.gguf if isinstance(info.gguf, dict) else {}
            out.append(RepoSummary(
                repo_id=info.id,
                author=info.author or (info.id.split("/", 1)[0] if "/" in info.id else None),
                downloads=info.downloads, likes=info.likes, updated=_iso(info.last_modified),
                gated=info.gated, license=_license(info.tags, info.card_data),
                architecture=gguf.get("architecture"), parameters=gguf.get("total"),
                context_length=gguf.get("context_length"), private=info.private,
            ))
    return out


def repo_listing(repo_id: str, *, revision: str = "main", config: HubConfig | None = None,
                 token: Token | None = None) -> RepoListing:
    """A repository's metadata and GGUF variants (sizes and LFS SHA-256 from the Hub)."""
    config = config or HubConfig.from_env()
    config.require_online(f"listing {repo_id}")
    validate_repo_id(repo_id)
    token = token if token is not None else resolve_token()
    api = _api(config, token)
    with hub_errors(f"repo {repo_id}", token=token, config=config):
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
        files = []
        others = []
        commit = checked_commit(info.sha)
        for sibling in info.siblings or []:
            lfs = sibling.lfs
            files.append(RemoteFile(
                repo_id=repo_id, path=checked_filename(sibling.rfilename),
                size=(lfs.size if lfs is not None else sibling.size),
                sha256=(checked_hex(lfs.sha256, "an LFS SHA-256", (64,))
                        if lfs is not None else None),
                blob_id=(checked_hex(sibling.blob_id, "a git blob id", (40,))
                         if sibling.blob_id is not None else None),
                revision=revision, commit=commit))
            if not sibling.rfilename.lower().endswith(".gguf"):
                others.append(sibling.rfilename)
        return RepoListing(
            repo_id=repo_id, revision=revision, commit=commit, author=info.author,
            downloads=info.downloads, likes=info.likes, updated=_iso(info.last_modified),
            gated=info.gated, license=_license(info.tags, info.card_data),
            variants=tuple(group_variants(files)), other_files=tuple(others))


def validate_repo_id(repo_id: str) -> None:
    """``owner/name`` with the Hub's characters; raises ``BadInput`` otherwise."""
    import re

    from workbench.errors import BadInput

    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]{0,95}/[A-Za-z0-9][\w.\-]{0,95}", repo_id or "") \
            or ".." in repo_id or repo_id.endswith((".git", ".")):
        raise BadInput(f"{repo_id!r} is not a Hub repository id (owner/name)")
