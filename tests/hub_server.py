"""Moved: the fake Hub is tests/fakes/hub_server.py, ``HubEnv`` and the GGUF helpers are
tests/helpers/hub.py. This re-export is temporary (for tests written meanwhile); to be removed."""

from tests.fakes.hub_server import FakeHub, HubFile, HubRepo, Request, git_blob_id  # noqa: F401
from tests.helpers.hub import HubEnv, split_gguf, synthetic_gguf  # noqa: F401
