"""Shared paths for the recipe format tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def good_recipe_path() -> Path:
    return HERE / "good" / "find_dentists.yaml"
