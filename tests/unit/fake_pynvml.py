"""Moved to tests/fakes/nvml.py. This re-export is temporary (for tests written meanwhile); to be
removed."""

from tests.fakes.nvml import *  # noqa: F403
from tests.fakes.nvml import MIB, FakeGpu, h100_sxm, make_fake_pynvml, rtx_4090  # noqa: F401
