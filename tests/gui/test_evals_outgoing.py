"""The Evals page asks before a run sends prompts off this machine: a router with a cloud target
is one such target (its cloud side), a router that stays here is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.routing.config import routers_dir
from workbench.store.settings import AppSettings
from workbench.ui.evals_page import outgoing


def test_a_router_with_a_cloud_target_is_named_before_a_run(
        home: Path, memory_keyring, monkeypatch: pytest.MonkeyPatch, llama_tiny: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-outgoing-test-0123456789")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    (routers_dir() / "hybrid.yaml").write_text(
        f"local: local:{llama_tiny}\ncloud: openai:gpt-4o-mini\n", encoding="utf-8")
    (routers_dir() / "here.yaml").write_text(f"local: local:{llama_tiny}\n", encoding="utf-8")
    found = outgoing(["router:hybrid", "router:here", f"local:{llama_tiny}"], AppSettings())
    assert len(found) == 1 and found[0].startswith("router:hybrid → ")
    assert "api.openai.com" in found[0]
