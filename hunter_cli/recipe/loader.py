"""Load recipe YAML into plain data while remembering where every key, value and item sits."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hunter_cli.recipe.problems import RecipeInvalid, RecipeProblem, render_path

__all__ = ["LoadedRecipe", "NodePath", "Position", "load_recipe_file", "load_recipe_text"]

NodePath = tuple[str | int, ...]
Position = tuple[int, int]

# A hostile or accidental alias bomb would otherwise make the position walk (and then JSON
# Schema validation) exponential; real recipes are a few hundred nodes.
_MAX_NODES = 200_000

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _RecipeLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader that keeps dates as strings so recipe data stays JSON-compatible."""


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass
class LoadedRecipe:
    """A parsed recipe plus what is needed to point at its source: positions and a content hash."""

    data: dict[str, Any]
    source: str
    text: str
    content_hash: str
    # Position of the node *at* each path: a mapping value, a sequence item or the root.
    positions: dict[NodePath, Position] = field(default_factory=dict)
    # Position of the key for each mapping entry; used when the key itself is the problem.
    key_positions: dict[NodePath, Position] = field(default_factory=dict)
    # Non-fatal defects found while loading (duplicate mapping keys); validation reports them.
    load_problems: list[RecipeProblem] = field(default_factory=list)

    def position_of(self, path: NodePath | list[str | int], *, key: bool = False) -> Position:
        """Line and column (1-based) of ``path``, falling back to its nearest located parent."""
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))


def _mark_pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


# A quoted scalar on a line, blanked out before looking for a template that is not quoted.
_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^']|'')*'""")
# `{{` where a plain value begins: at the line's start, after `key:`, `-`, `[`, `{` or `,`.
_VALUE_TEMPLATE = re.compile(r"(?:^|[:-]\s|[\[{,])\s*(\{\{)")
_FLOW_KEY = re.compile(r"([^\s,\[\]{}:#][^,\[\]{}:#]*?):\s+$")


def _unquoted_template(text: str, line: int) -> tuple[Position, str] | None:
    """Where an unquoted value starting with `{{` is on ``line`` (1-based) of ``text``, and
    how to write it quoted; None if there is none. YAML reads `{` as a flow mapping, so
    `prompt: {{ inputs.a }}` fails to parse with a message that says nothing of templates."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    raw = lines[line - 1]
    plain = _QUOTED.sub(lambda m: " " * len(m.group()), raw)
    found = _VALUE_TEMPLATE.search(plain)
    if found is None:
        return None
    start = found.start(1)
    before = plain[:start]
    in_flow = before.count("{") + before.count("[") > before.count("}") + before.count("]")
    if in_flow:
        end = plain.find("}}", start)
        value = raw[start : end + 2] if end != -1 else raw[start:]
    else:
        comment = plain.find(" #", start)
        value = raw[start : comment if comment != -1 else len(raw)].rstrip()
    quoted = (
        f'"{value}"'
        if '"' not in value and "\\" not in value
        else "'" + value.replace("'", "''") + "'"
    )
    key = _FLOW_KEY.search(before)
    if key is not None:
        example = f"{key.group(1).strip()}: {quoted}"
    elif before.rstrip().endswith("-"):
        example = f"- {quoted}"
    else:
        example = quoted
    return (line, start + 1), f"a value starting with '{{{{' must be quoted, e.g. {example}"


def _yaml_error_problem(exc: yaml.YAMLError, source: str, text: str) -> RecipeProblem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = _mark_pos(mark) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        message = f"invalid YAML: {problem}"
        if exc.context and exc.problem:
            if exc.problem.startswith("but found"):
                # PyYAML splits "expected X, but found Y" across context and problem.
                message = f"invalid YAML: {exc.context}, {exc.problem}"
            else:
                where = ""
                if exc.context_mark is not None and exc.context_mark.line + 1 != line:
                    where = f" at line {exc.context_mark.line + 1}"
                message += f" ({exc.context}{where})"
        if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
            message += "; use spaces, not tabs, for indentation"
        # The template is on the line the parser stopped at, or (for a value continued on
        # the next line) the one before.
        template = _unquoted_template(text, line) or _unquoted_template(text, line - 1)
        if template is not None:
            (line, col), hint = template
            message += f"; {hint}"
        return RecipeProblem(source, line, col, "", message)
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line = before.count("\n") + 1
        col = exc.position - (before.rfind("\n") + 1) + 1
        return RecipeProblem(
            source, line, col, "", f"invalid YAML: unacceptable character {exc.character!r}"
        )
    return RecipeProblem(source, 1, 1, "", f"invalid YAML: {exc}")


def _json_key(key: Any) -> str:
    """The text a mapping key becomes in JSON (1 -> "1", true -> "true", null -> "null")."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if isinstance(key, int | float) or key is None else repr(key)


def _non_text_key_message(key_node: ScalarNode, key: Any, clash: tuple[str, int] | None) -> str:
    """Why a key YAML reads as a number, a boolean or null is refused, and how to quote it."""
    written = key_node.value or "~"
    if isinstance(key, bool):
        what = f"the boolean {_json_key(key)}"
    elif isinstance(key, int | float):
        what = "a number"
    elif key is None:
        what = "null"
    else:
        what = f"a {key_node.tag.rsplit(':', 1)[-1]} value"
    same = f" (so it is the same key as {clash[0]} at line {clash[1]})" if clash else ""
    quoted = "'" + written.replace("'", "''") + "'"
    return f"key {written} is read by YAML as {what}, not text{same}: quote it, {quoted}"


def _mapping_key_problems(root: Node, loader: Any, source: str) -> list[RecipeProblem]:
    """Keys written twice in one mapping (PyYAML silently keeps the last one), and keys that
    are not text: JSON's keys are, and `1` and `true` are even the same key to Python, so
    `{1: x, true: y}` was silently `{"1": "y"}`."""
    problems: list[RecipeProblem] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, NodePath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            # Each key as the data holds it, with how it was written and where: a key that
            # is not text may stand for an earlier one (1 and true; 1 and '1' once in JSON).
            as_data: list[tuple[Any, str, int]] = []
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                key_path = (*path, key_node.value)
                stack.append((value_node, key_path))
                line, col = _mark_pos(key_node.start_mark)
                ident = (key_node.tag, key_node.value)
                if ident in first_line:
                    problems.append(
                        RecipeProblem(
                            source,
                            line,
                            col,
                            render_path(key_path),
                            f"duplicate key {key_node.value!r} "
                            f"(first defined at line {first_line[ident]})",
                        )
                    )
                    continue
                first_line[ident] = line
                key = loader.construct_object(key_node)
                if key_node.tag != _STR_TAG:
                    clash = next(
                        (
                            (written, at)
                            for earlier, written, at in as_data
                            if _json_key(earlier) == _json_key(key)
                            or (not isinstance(earlier, str) and earlier == key)
                        ),
                        None,
                    )
                    message = _non_text_key_message(key_node, key, clash)
                    problems.append(
                        RecipeProblem(source, line, col, render_path(key_path), message)
                    )
                as_data.append((key, key_node.value, line))
        elif isinstance(node, SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
    problems.sort(key=RecipeProblem.sort_key)
    return problems


class _PositionWalker:
    """Walks the composed node graph alongside the constructed data, recording positions."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.positions: dict[NodePath, Position] = {}
        self.key_positions: dict[NodePath, Position] = {}
        self.count = 0
        # Where an alias stands for a mapping or list it is inside of.
        self.recursive: list[NodePath] = []

    def walk(self, node: Node, path: NodePath, active: frozenset[int]) -> None:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooLarge
        self.positions[path] = _mark_pos(node.start_mark)
        if id(node) in active:
            self.recursive.append(path)
            return
        active = active | {id(node)}
        if isinstance(node, MappingNode):
            # Merge keys were flattened during construction; later pairs win, as in the dict.
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int) or isinstance(key, bool):
                    key = str(key)
                child = (*path, key)
                self.key_positions[child] = _mark_pos(key_node.start_mark)
                self.walk(value_node, child, active)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index), active)


class _TooLarge(Exception):
    pass


def load_recipe_text(
    text: str, source: str = "<recipe>", *, raw: bytes | None = None
) -> LoadedRecipe:
    """Parse recipe YAML ``text``; ``source`` labels problems. Raises ``RecipeInvalid``."""
    data_bytes = raw if raw is not None else text.encode("utf-8")
    content_hash = hashlib.sha256(data_bytes).hexdigest()
    loader = _RecipeLoader(text)
    try:
        try:
            root = loader.get_single_node()
            if root is None:
                raise RecipeInvalid(
                    [RecipeProblem(source, 1, 1, "", "recipe is empty; expected a mapping")]
                )
            # Before construction, which flattens merge keys (<<) into the mappings' nodes.
            key_problems = _mapping_key_problems(root, loader, source)
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:
            raise RecipeInvalid([_yaml_error_problem(exc, source, text)]) from None
        except RecursionError:
            raise RecipeInvalid(
                [RecipeProblem(source, 1, 1, "", "recipe is nested too deeply")]
            ) from None
        if not isinstance(data, dict):
            line, col = _mark_pos(root.start_mark)
            kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
            raise RecipeInvalid(
                [RecipeProblem(source, line, col, "", f"recipe must be a mapping, not {kind}")]
            )
        walker = _PositionWalker(loader)
        try:
            walker.walk(root, (), frozenset())
        except (_TooLarge, RecursionError):
            raise RecipeInvalid(
                [RecipeProblem(source, 1, 1, "", "recipe is too large or nests aliases too deeply")]
            ) from None
        if walker.recursive:
            # Data without end: no check could walk it, and JSON cannot hold it.
            problems = []
            for path in walker.recursive:
                # An alias has no position of its own in the node graph: its key's, or its
                # list's.
                line, col = walker.key_positions.get(path) or walker.positions[path[:-1]]
                problems.append(
                    RecipeProblem(
                        source,
                        line,
                        col,
                        render_path(path),
                        "this alias stands for a mapping or list it is inside of, which would "
                        "never end: write the value out",
                    )
                )
            raise RecipeInvalid(sorted(problems, key=RecipeProblem.sort_key))
    finally:
        loader.dispose()
    return LoadedRecipe(
        data=data,
        source=source,
        text=text,
        content_hash=content_hash,
        positions=walker.positions,
        key_positions=walker.key_positions,
        load_problems=key_problems,
    )


def load_recipe_file(path: str | os.PathLike[str]) -> LoadedRecipe:
    """Read and parse a recipe file; defects raise ``RecipeInvalid``, I/O errors ``OSError``."""
    source = os.fspath(path)
    raw = Path(source).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RecipeInvalid(
            [RecipeProblem(source, line, col, "", "recipe file is not valid UTF-8")]
        ) from None
    return load_recipe_text(text, source, raw=raw)
