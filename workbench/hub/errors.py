"""Errors of the Hub client, the downloader and the library: one actionable line each."""

from __future__ import annotations

from workbench.errors import BadInput, RuntimeFailure


class HubError(RuntimeFailure):
    """The Hub could not be used: a server error, a malformed answer."""


class OfflineError(HubError):
    """HF_HUB_OFFLINE is set: nothing is sent to the Hub."""


class NetworkError(HubError):
    """The Hub (or its CDN) cannot be reached, or the connection failed."""


class AuthError(HubError):
    """HTTP 401/403: a gated or private repository, a missing or refused token."""


class NotFoundError(BadInput):
    """No such repository, revision or file on the Hub (or no such local model)."""


class DownloadError(RuntimeFailure):
    """A download failed; what was downloaded so far is kept for a resume."""


class DownloadCancelled(DownloadError):
    """The download was cancelled; the bytes downloaded so far are kept for a resume."""


class DiskSpaceError(DownloadError):
    """Not enough free disk space for the download (checked before it starts, or disk full)."""


class HashMismatchError(DownloadError):
    """The downloaded file's SHA-256 is not the Hub's; the bad file was deleted."""


class LibraryError(RuntimeFailure):
    """A library operation (delete, reveal) failed."""
