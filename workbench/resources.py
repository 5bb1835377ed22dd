"""Where the files in the repository's ``resources/`` folder are at run time.

From a checkout or an editable install they are read in place; a wheel installs them under
``<prefix>/share/workbench/resources`` (``[tool.setuptools.data-files]`` in pyproject.toml).
"""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    in_checkout = Path(__file__).resolve().parents[1] / "resources"
    if in_checkout.is_dir():
        return in_checkout
    return Path(sys.prefix) / "share" / "workbench" / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def models_dir() -> Path:
    """The curated model catalog (the repository's ``models/`` folder)."""
    in_checkout = Path(__file__).resolve().parents[1] / "models"
    if in_checkout.is_dir():
        return in_checkout
    return Path(sys.prefix) / "share" / "workbench" / "models"
