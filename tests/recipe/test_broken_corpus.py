"""Each broken recipe yields exactly the problems listed in broken/expected.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hunter_cli.recipe import RecipeInvalid, load_recipe_file, validate_recipe

HERE = Path(__file__).parent
BROKEN = HERE / "broken"
EXPECTED: dict[str, list[str]] = yaml.safe_load((BROKEN / "expected.yaml").read_text())
CORPUS = sorted(p.name for p in BROKEN.glob("*.yaml") if p.name != "expected.yaml")


def problems_for(relative: str) -> list[str]:
    try:
        return [str(p) for p in validate_recipe(load_recipe_file(relative))]
    except RecipeInvalid as exc:
        return [str(p) for p in exc.problems]


def test_every_corpus_file_has_expectations() -> None:
    assert sorted(EXPECTED) == CORPUS


@pytest.mark.parametrize("name", CORPUS)
def test_broken_recipe_problems(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Problems carry the path exactly as given, so run from tests/recipe with a relative one.
    monkeypatch.chdir(HERE)
    assert problems_for(f"broken/{name}") == EXPECTED[name]


@pytest.mark.parametrize("name", CORPUS)
def test_broken_recipe_is_rejected_by_load_and_validate(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hunter_cli.recipe import load_and_validate

    monkeypatch.chdir(HERE)
    with pytest.raises(RecipeInvalid) as caught:
        load_and_validate(f"broken/{name}")
    assert str(caught.value) == "\n".join(EXPECTED[name])
