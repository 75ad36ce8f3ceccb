"""Loading recipe YAML: data, positions, hashes and syntax errors as problems."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hunter_cli.recipe import RecipeInvalid, load_recipe_file, load_recipe_text

TEXT = """\
slug: demo
name: Demo
version: "1.0"
released: 2024-01-01
steps:
  - id: search
    type: action
    action: lead_search
  - id: summarize
    type: ai
    prompt: hi
    timeout: 30
defaults: &d {a: 1, b: 2}
merged:
  <<: *d
  b: 3
"""


def test_data_and_metadata() -> None:
    loaded = load_recipe_text(TEXT, "recipes/demo.yaml")
    assert loaded.source == "recipes/demo.yaml"
    assert loaded.text == TEXT
    assert loaded.content_hash == hashlib.sha256(TEXT.encode()).hexdigest()
    assert loaded.data["steps"][1]["timeout"] == 30
    # Dates stay strings so recipe data is JSON-compatible.
    assert loaded.data["released"] == "2024-01-01"
    assert loaded.data["merged"] == {"a": 1, "b": 3}
    assert loaded.load_problems == []


def test_positions_of_values_keys_and_items() -> None:
    loaded = load_recipe_text(TEXT, "x.yaml")
    assert loaded.positions[()] == (1, 1)
    assert loaded.positions[("slug",)] == (1, 7)
    assert loaded.positions[("steps", 1)] == (9, 5)
    assert loaded.positions[("steps", 1, "timeout")] == (12, 14)
    assert loaded.key_positions[("steps", 1, "timeout")] == (12, 5)
    assert loaded.positions[("merged", "b")] == (16, 6)


def test_position_of_falls_back_to_nearest_parent() -> None:
    loaded = load_recipe_text(TEXT, "x.yaml")
    assert loaded.position_of(("steps", 1, "timeout")) == (12, 14)
    assert loaded.position_of(["steps", 1, "timeout"], key=True) == (12, 5)
    assert loaded.position_of(("steps", 1, "missing", 3)) == (9, 5)
    assert loaded.position_of(("steps", 1, "missing"), key=True) == (9, 5)
    assert loaded.position_of(("nothing",)) == (1, 1)


def test_file_hash_is_of_the_bytes(tmp_path: Path) -> None:
    raw = b"\xef\xbb\xbfslug: bom\nname: Bom\n"
    path = tmp_path / "bom.yaml"
    path.write_bytes(raw)
    loaded = load_recipe_file(path)
    assert loaded.data == {"slug": "bom", "name": "Bom"}
    assert loaded.content_hash == hashlib.sha256(raw).hexdigest()
    assert loaded.source == str(path)


def test_invalid_utf8_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"slug: x\nname: caf\xe9\n")
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe_file(path)
    assert str(caught.value) == f"{path}:2:10: (root): recipe file is not valid UTF-8"


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_recipe_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: b: c\n",
            "r.yaml:1:5: (root): invalid YAML: mapping values are not allowed in this context",
        ),
        ("", "r.yaml:1:1: (root): recipe is empty; expected a mapping"),
        ("- 1\n- 2\n", "r.yaml:1:1: (root): recipe must be a mapping, not a list"),
        ("just text\n", "r.yaml:1:1: (root): recipe must be a mapping, not a str value"),
        (
            "a: !python/object x\n",
            "r.yaml:1:4: (root): invalid YAML: could not determine a constructor for the tag "
            "'!python/object'",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "r.yaml:2:1: (root): invalid YAML: expected a single document in the stream, "
            "but found another document",
        ),
        (
            "a:\n\t- b\n",
            "r.yaml:2:1: (root): invalid YAML: found character that cannot start any token "
            "(while scanning for the next token); use spaces, not tabs, for indentation",
        ),
        (
            "a:\n  - {{ x }}\n",
            "r.yaml:2:5: (root): invalid YAML: found unhashable key (while constructing a "
            "mapping); a value starting with '{{' must be quoted, e.g. - \"{{ x }}\"",
        ),
        (
            "a: {b: {{ x }}, c: 1}\n",
            "r.yaml:1:8: (root): invalid YAML: found unhashable key (while constructing a "
            "mapping); a value starting with '{{' must be quoted, e.g. b: \"{{ x }}\"",
        ),
        (
            "a: {{ x ~ '\"' }} it's\n",
            "r.yaml:1:4: (root): invalid YAML: did not find expected key (while parsing a "
            "block mapping); a value starting with '{{' must be quoted, e.g. "
            "a: '{{ x ~ ''\"'' }} it''s'",
        ),
    ],
)
def test_unloadable_text_raises_recipe_invalid(text: str, expected: str) -> None:
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe_text(text, "r.yaml")
    assert [str(p) for p in caught.value.problems] == [expected]


def test_duplicate_keys_are_recorded_not_raised() -> None:
    loaded = load_recipe_text("a: 1\nb:\n  c: 1\n  c: 2\n", "d.yaml")
    assert loaded.data == {"a": 1, "b": {"c": 2}}
    assert [str(p) for p in loaded.load_problems] == [
        "d.yaml:4:3: b.c: duplicate key 'c' (first defined at line 3)"
    ]


def test_merge_key_override_is_not_a_duplicate() -> None:
    loaded = load_recipe_text("d: &d {a: 1}\ne:\n  <<: *d\n  a: 2\n", "m.yaml")
    assert loaded.data["e"] == {"a": 2}
    assert loaded.load_problems == []


def test_an_alias_inside_what_it_stands_for_is_refused() -> None:
    # It made data without end, and validation walked it for ever.
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe_text("a: 1\nb: &x {c: [*x]}\n", "r.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "r.yaml:2:11: b.c[0]: this alias stands for a mapping or list it is inside of, which "
        "would never end: write the value out"
    ]


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(RecipeInvalid, match="too large"):
        load_recipe_text("\n".join(lines) + "\n", "bomb.yaml")
