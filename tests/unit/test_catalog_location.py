"""Where the catalog loader finds models/: a source checkout, an installed wheel, the env var."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from workbench import resources
from workbench.planner import catalog as cat

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cat.CATALOG_ENV, raising=False)


def test_a_checkout_reads_the_repositorys_models_folder() -> None:
    assert cat.catalog_dir() == ROOT / "models" == resources.models_dir()
    assert cat.load_catalog().entries


def test_an_installed_wheel_reads_share_workbench_models(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # a wheel puts the package in site-packages (no models/ beside it) and the data files
    # under <prefix>/share/workbench ([tool.setuptools.data-files] in pyproject.toml)
    site = tmp_path / "lib" / "site-packages" / "workbench"
    site.mkdir(parents=True)
    shipped = tmp_path / "share" / "workbench" / "models"
    shutil.copytree(ROOT / "models", shipped)
    monkeypatch.setattr(resources, "__file__", str(site / "resources.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert cat.catalog_dir() == shipped
    installed = cat.load_catalog()
    checkout = cat.load_catalog(ROOT / "models")
    assert [e.id for e in installed.entries] == [e.id for e in checkout.entries]


def test_a_wheel_without_its_data_files_says_where_it_looked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "__file__", str(tmp_path / "workbench" / "resources.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    with pytest.raises(cat.BadInput, match="share/workbench/models"):
        cat.load_catalog()


def test_the_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cat.CATALOG_ENV, str(tmp_path))
    assert cat.catalog_dir() == tmp_path
