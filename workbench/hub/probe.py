"""Does the Hugging Face Hub answer? One HEAD request, with the offline guard respected.

``check_hub()`` is what the Start page shows before it offers a download (and what the CLI or
the server may ask): None when the endpoint (``HF_ENDPOINT``) answers at all, else a sentence
saying why it cannot be reached. With offline mode on (the settings' guard, ``HF_HUB_OFFLINE``,
``WORKBENCH_OFFLINE``) no connection is attempted.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from workbench.hub.config import HubConfig
from workbench.net.offline import find_offline_block, is_offline

HUB_TIMEOUT_S = 4.0
OFFLINE_REASON = "offline mode is on: nothing leaves this machine"


def check_hub(timeout: float = HUB_TIMEOUT_S) -> str | None:
    """None when the Hub endpoint (``HF_ENDPOINT``) answers at all, else why it does not.

    Offline mode (the settings' guard, ``HF_HUB_OFFLINE``, ``WORKBENCH_OFFLINE``) answers
    without a connection attempt; a connection the offline guard blocks reads the same.
    """
    if is_offline():
        return OFFLINE_REASON
    config = HubConfig.from_env()
    request = urllib.request.Request(f"{config.endpoint}/api/models?limit=1", method="HEAD",
                                     headers={"User-Agent": "workbench"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:  # it answered: reachable
        return None
    except OSError as err:  # URLError, timeouts, refused connections
        if find_offline_block(err) is not None or find_offline_block(
                getattr(err, "reason", None)) is not None:
            return OFFLINE_REASON
        reason = getattr(err, "reason", None) or err
        return f"{config.endpoint} cannot be reached ({reason})"
