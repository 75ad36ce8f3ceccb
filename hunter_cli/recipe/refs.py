"""Finding `$ref`s in a recipe's JSON Schemas that point nowhere, and saying why in plain words."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

__all__ = ["explain_unresolvable", "unresolvable_refs"]

# Keywords whose value is data, not a schema: a "$ref" key inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose value maps names to schemas: a property called "$ref" is a name, not a ref.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)


def explain_unresolvable(error: Exception) -> str:
    """Why a `referencing` Unresolvable could not be resolved, for a recipe author."""
    from referencing.exceptions import InvalidAnchor, NoSuchAnchor, PointerToNowhere

    cause = getattr(error, "_wrapped", error)  # jsonschema wraps the referencing error
    if isinstance(cause, PointerToNowhere):
        return f"there is nothing at '#{cause.ref}' in this schema"
    if isinstance(cause, NoSuchAnchor | InvalidAnchor):
        return f"this schema has no $anchor {cause.anchor!r}"
    ref = getattr(cause, "ref", "")
    return (
        f"{ref!r} is not part of the recipe, and hunter does not fetch schemas: copy it under "
        "$defs and refer to it as '#/$defs/NAME'"
    )


def _refs(
    schema: Any, path: tuple[str | int, ...], base: str
) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _refs(item, (*path, index), base)
        return
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("$id"), str):
        base = urljoin(base, schema["$id"])
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str):
            yield (*path, key), base, value
        elif key in _DATA_KEYWORDS:
            continue
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _refs(sub, (*path, key, name), base)
        else:
            yield from _refs(value, (*path, key), base)


def _ids_are_text(schema: Any) -> bool:
    if isinstance(schema, list):
        return all(_ids_are_text(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if "$id" in schema and not isinstance(schema["$id"], str):
        return False
    return all(_ids_are_text(v) for k, v in schema.items() if k not in _DATA_KEYWORDS)


def unresolvable_refs(
    schema: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """``(path of the $ref, message)`` for every `$ref` in ``schema`` that resolves to nothing.

    References resolve as at run time (draft 2020-12, with the JSON Schema specifications
    known offline), except that nothing is fetched from the network.
    """
    # A $id that is not text is reported by the meta-schema check; resolution would crash.
    if not isinstance(schema, dict) or not _ids_are_text(schema):
        return
    from jsonschema_specifications import REGISTRY
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    root = DRAFT202012.create_resource(schema)
    root_uri = root.id() or ""
    try:
        registry = REGISTRY.with_resource(root_uri, root).crawl()
    except (AttributeError, TypeError, ValueError):
        # A plain value where a subschema belongs (`properties: {city: string}`, draft-7's
        # `items: [...]`): the meta-schema check says where; crawling it would crash.
        return
    for ref_path, base, ref in _refs(schema, path, root_uri):
        try:
            registry.resolver(base_uri=base).lookup(ref)
        except Unresolvable as error:
            yield ref_path, f"$ref {ref!r} cannot be resolved: {explain_unresolvable(error)}"
        except (AttributeError, TypeError, ValueError):
            continue  # through a part that is no schema: reported by the meta-schema check
