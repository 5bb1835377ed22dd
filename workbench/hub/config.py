"""Where the Hub is and where its files go, read from the environment at call time.

huggingface_hub reads ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once,
when it is imported; Workbench reads them whenever a ``HubConfig`` is made, with the same
defaults and precedence, so a long-running app (and the tests) see changes. Whether the Hub may
be used is the app's one network state (``workbench.net.offline.network_state``: the settings,
``WORKBENCH_OFFLINE``, ``HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.hub.errors import OfflineError

DEFAULT_ENDPOINT = "https://huggingface.co"
def hf_home() -> Path:
    """``HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface``."""
    value = os.environ.get("HF_HOME")
    if value:
        return Path(os.path.expandvars(value)).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg).expanduser() / "huggingface"


def hub_cache_dir() -> Path:
    """The shared model cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``."""
    value = os.environ.get("HF_HUB_CACHE")
    if value:
        return Path(os.path.expandvars(value)).expanduser()
    return hf_home() / "hub"


@dataclass(frozen=True)
class HubConfig:
    """The Hub endpoint, the cache directory and whether the network may be used."""

    endpoint: str
    cache_dir: Path
    offline: bool

    @classmethod
    def from_env(cls) -> HubConfig:
        endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        from workbench.net.offline import network_state

        return cls(endpoint=endpoint, cache_dir=hub_cache_dir(),
                   offline=network_state().offline)

    def require_online(self, what: str) -> None:
        """Raise ``OfflineError`` when offline mode is on."""
        if self.offline:
            raise OfflineError(f"offline: {what} needs the Hugging Face Hub and offline mode is "
                               "on (HF_HUB_OFFLINE or WORKBENCH_OFFLINE; local models keep "
                               "working)")

    def resolve_url(self, repo_id: str, filename: str, revision: str) -> str:
        """The ``/resolve/`` URL of a file (quoted like huggingface_hub's ``hf_hub_url``)."""
        from urllib.parse import quote

        return (f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/"
                f"{quote(filename)}")


def offline_block(err: BaseException | None) -> BaseException | None:
    """The offline guard's refusal behind ``err`` (``workbench.net.offline``), if any."""
    from workbench.net.offline import find_offline_block

    return find_offline_block(err)
