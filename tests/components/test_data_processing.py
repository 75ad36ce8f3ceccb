"""The data_processing action: each operation on its own, and in a real run on both backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from hunter_cli.components.actions.data_processing import (
    DataProcessing,
    dedupe_items,
    lookup,
    normalise_value,
)
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import Settings, load_settings
from hunter_cli.engine.runner import Runner
from hunter_cli.recipe import load_and_validate
from hunter_cli.recipe.templates import evaluate_expression, render_value


def make_ctx(**context) -> StepContext:
    """A context for calling the action directly: list operations need no database."""
    return StepContext(
        session=None,  # type: ignore[arg-type]
        settings=Settings(None, None, None, None, "tester"),
        customer_id=uuid.uuid4(),  # never loaded: these operations need no database
        execution_id=uuid.uuid4(),
        step_id="process",
        actor="tester",
        template_context={"inputs": {}, "steps": {}, "state": {}, **context},
        render_fn=render_value,
        evaluate_fn=evaluate_expression,
    )


def process(**params):
    return DataProcessing().run(params, make_ctx())


# --- paths and normalisation ------------------------------------------------------------------


def test_lookup_dotted_and_indexed_paths():
    item = {"data": {"industry": "SaaS", "tags": [{"name": "b2b"}]}, "n": None}
    assert lookup(item, "data.industry") == "SaaS"
    assert lookup(item, "data.tags[0].name") == "b2b"
    assert lookup(item, "data.tags.0.name") == "b2b"
    assert lookup(item, "n") is None
    assert not lookup(item, "data.missing")
    assert not lookup(item, "data.tags[3].name")
    assert not lookup("text", "a")


@pytest.mark.parametrize(
    ("field", "a", "b"),
    [
        ("domain", "https://www.Acme.com/", "acme.com"),
        ("website", "http://acme.com", "ACME.COM/"),
        ("email", "  Jane@Acme.com ", "jane@acme.com"),
        ("company", "Acme, Inc.", "ACME"),
        ("company", "The Acme Corporation", "acme"),
        ("company", "Acme  GmbH", "acme"),
        ("company", "Acme Pty Ltd", "Acme"),
        ("company", "Acme S.A.", "acme sa"),
        ("company", "Acme B.V.", "Acme BV"),
        ("company.name", "Acme PLC", "acme"),
        ("title", "Head   of\tSales", "head of sales"),
    ],
)
def test_normalisation_makes_these_equal(field, a, b):
    from hunter_cli.components.actions.data_processing import field_kind

    kind = field_kind(field)
    assert normalise_value(a, kind) == normalise_value(b, kind)


def test_normalisation_keeps_real_differences():
    assert normalise_value("Acme Co", "company") != normalise_value("Acme Labs", "company")
    # A person's name is not a company: "Co" stays.
    assert normalise_value("Jo Co", "text") == "jo co"
    # A lone suffix is not erased to nothing.
    assert normalise_value("Co", "company") == "co"
    assert normalise_value("   ", "text") is None
    assert normalise_value(None) is None


# --- dedupe ------------------------------------------------------------------------------------


def test_dedupe_by_email_keeps_first_and_fills_its_empty_fields():
    items = [
        {"email": "Jane@Acme.com", "name": "Jane", "phone": "", "data": {"industry": None}},
        {"email": "bob@acme.com", "name": "Bob"},
        {
            "email": " jane@acme.com ",
            "name": "J. Doe",
            "phone": "+1 555",
            "data": {"industry": "SaaS", "size": 50},
        },
    ]
    result = process(operation="dedupe", items=items, keys=["email"])
    assert result["count"] == 2
    assert result["removed"] == 1
    assert result["duplicates"] == [{"kept": 0, "dropped": 2, "reason": "email"}]
    jane = result["items"][0]
    assert jane["name"] == "Jane"  # the first occurrence wins
    assert jane["phone"] == "+1 555"  # its empty fields are filled from the duplicate
    assert jane["data"] == {"industry": "SaaS", "size": 50}
    # The input (an earlier step's output) is untouched.
    assert items[0]["phone"] == "" and items[0]["data"] == {"industry": None}


def test_dedupe_needs_every_key_and_missing_keys_never_match():
    items = [
        {"domain": "acme.com", "name": "Jane"},
        {"domain": "www.acme.com/", "name": "jane "},
        {"domain": "acme.com", "name": "Bob"},
        {"domain": "acme.com"},
        {"domain": "acme.com"},
        {"name": "Jane"},
    ]
    result = process(operation="dedupe", items=items, keys=["domain", "name"])
    assert [d["dropped"] for d in result["duplicates"]] == [1]
    assert result["duplicates"][0]["reason"] == "domain+name"
    assert result["count"] == 5


def test_dedupe_on_dotted_keys_and_company_suffixes():
    items = [
        {"company": {"name": "Acme Inc."}},
        {"company": {"name": "ACME, LLC"}},
        {"company": {"name": "The Acme Corp"}},
        {"company": {"name": "Acme Labs"}},
    ]
    result = process(operation="dedupe", items=items, keys=["company.name"])
    assert result["count"] == 2
    assert [d["dropped"] for d in result["duplicates"]] == [1, 2]


def test_dedupe_without_keys_compares_whole_items():
    result = process(operation="dedupe", items=["a", "A ", "b", {"x": 1}, {"x": 1}])
    assert result["items"] == ["a", "b", {"x": 1}]
    assert {d["reason"] for d in result["duplicates"]} == {"identical"}


def test_fuzzy_threshold_decides():
    items = [
        {"company": "Acme Widgets"},
        {"company": "Acme Widget"},  # very close
        {"company": "Widgets Acme Inc"},  # same tokens, other order, suffix dropped
        {"company": "Acme Robotics"},  # shares a word only
    ]
    strict = dedupe_items(items, None, {"field": "company", "threshold": 99})
    assert [d["dropped"] for d in strict["duplicates"]] == [2]
    assert strict["duplicates"][0]["reason"] == "fuzzy company 100"
    loose = dedupe_items(items, None, {"field": "company", "threshold": 90})
    assert [d["dropped"] for d in loose["duplicates"]] == [1, 2]
    assert loose["duplicates"][0]["reason"].startswith("fuzzy company 9")
    assert loose["count"] == 2
    everything = dedupe_items(items, None, {"field": "company", "threshold": 50})
    assert everything["count"] == 1


def test_fuzzy_combines_with_exact_keys():
    items = [
        {"email": "a@acme.com", "company": "Acme"},
        {"email": None, "company": "Acme Inc"},  # no email: fuzzy (same after normalising)
        {"email": "A@acme.com", "company": "Other"},  # exact email
        {"email": "c@beta.com", "company": None},  # nothing to compare fuzzily
    ]
    result = process(
        operation="dedupe", items=items, keys=["email"], fuzzy={"field": "company", "threshold": 95}
    )
    reasons = {d["dropped"]: d["reason"] for d in result["duplicates"]}
    assert reasons == {1: "fuzzy company 100", 2: "email"}
    assert result["count"] == 2


def test_fuzzy_never_merges_items_whose_keys_differ():
    """Regression: keys and fuzzy were OR'ed, so adding fuzzy company matching to an email
    dedupe dropped every colleague (bob@acme.com went as a duplicate of alice@acme.com)."""
    items = [
        {"email": "alice@acme.com", "company": "Acme Inc"},
        {"email": "bob@acme.com", "company": "Acme, Inc."},
        {"email": None, "company": "ACME"},  # no email: the same company, merged
        {"email": "carl@acme.com", "company": "Acme"},  # alice's record now has a key
        {"email": "bob@ACME.com ", "company": "Acme Incorporated"},  # bob again
    ]
    result = dedupe_items(items, ["email"], {"field": "company", "threshold": 90})
    assert [i["email"] for i in result["items"]] == [
        "alice@acme.com",
        "bob@acme.com",
        "carl@acme.com",
    ]
    reasons = {d["dropped"]: (d["kept"], d["reason"]) for d in result["duplicates"]}
    assert reasons == {2: (0, "fuzzy company 100"), 4: (1, "email")}
    # An item without a key first, then two with different keys: only one may join it.
    items = [
        {"email": None, "company": "Acme"},
        {"email": "b@acme.com", "company": "Acme Inc"},
        {"email": "c@acme.com", "company": "Acme Ltd"},
    ]
    result = dedupe_items(items, ["email"], {"field": "company", "threshold": 90})
    # The first took b's email when b joined it, so c (another email) stays apart.
    assert [i["email"] for i in result["items"]] == ["b@acme.com", "c@acme.com"]


@pytest.mark.parametrize(
    "value",
    ["acme.com", "https://www.Acme.com/about", "http://acme.com:8080", "ACME.COM.", "//acme.com"],
)
def test_domains_compare_as_the_lead_store_stores_them(value):
    result = dedupe_items([{"domain": "acme.com"}, {"domain": value}], ["domain"])
    assert result["count"] == 1, value


@pytest.mark.parametrize(
    "name",
    [
        "Driftforge Medical Pte Ltd",
        "Driftforge Medical Incorporated",
        "Driftforge Medical AG & Co. KG",
        "Driftforge Medical S.A.S.",
        "Driftforge Médical",
        "The Driftforge Medical Company",
    ],
)
def test_company_suffixes_and_accents(name):
    result = dedupe_items([{"company": "Driftforge Medical"}, {"company": name}], ["company"])
    assert result["count"] == 1, name


def test_accents_fold_for_fuzzy_company_matching():
    result = dedupe_items(
        [{"company": "Société Générale S.A."}, {"company": "Societe Generale"}],
        None,
        {"field": "company", "threshold": 95},
    )
    assert result["count"] == 1


def test_dedupe_of_many_items_is_correct():
    items = [{"email": f"user{i % 5000}@example.com", "n": i} for i in range(10_000)]
    result = dedupe_items(items, ["email"])
    assert result["count"] == 5000
    assert result["items"][0]["n"] == 0
    assert result["duplicates"][0] == {"kept": 0, "dropped": 5000, "reason": "email"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"items": "not a list"}, "items must be a list, got a string ('not a list')"),
        ({"items": None}, "items must be a list, got null"),
        ({"items": {"a": 1}}, "items must be a list, got a mapping (keys: a)"),
        ({"items": [], "keys": 3}, "keys must be a field name or a list of field names"),
        ({"items": [], "fuzzy": {"field": "company", "threshold": 120}}, "fuzzy.threshold"),
    ],
)
def test_dedupe_wrong_types(params, message):
    with pytest.raises(StepError, match=message.replace("(", r"\(").replace(")", r"\)")):
        process(operation="dedupe", **params)


# --- filter, sort, limit, pick, merge ---------------------------------------------------------


LEADS = [
    {"name": "Ann", "score": 70, "company": {"size": 50}},
    {"name": "bob", "score": None, "company": {"size": 500}},
    {"name": "Cid", "score": 90, "company": {}},
    {"name": "Dee", "score": 40, "company": {"size": 5}},
]


def test_filter_with_an_expression_per_item():
    result = process(operation="filter", items=LEADS, where="item.score and item.score > 50")
    assert [i["name"] for i in result["items"]] == ["Ann", "Cid"]
    assert result["count"] == 2 and result["removed"] == 2
    by_index = process(operation="filter", items=LEADS, where="index % 2 == 0")
    assert [i["name"] for i in by_index["items"]] == ["Ann", "Cid"]


def test_filter_sees_the_run_context():
    ctx = make_ctx(inputs={"min": 60})
    result = DataProcessing().run(
        {"operation": "filter", "items": LEADS, "where": "{{ (item.score or 0) >= inputs.min }}"},
        ctx,
    )
    assert [i["name"] for i in result["items"]] == ["Ann", "Cid"]


def test_filter_with_a_mapping():
    result = process(operation="filter", items=LEADS, where={"name": "BOB"})
    assert [i["name"] for i in result["items"]] == ["bob"]
    any_of = process(operation="filter", items=LEADS, where={"company.size": [5, 50]})
    assert [i["name"] for i in any_of["items"]] == ["Ann", "Dee"]


def test_filter_error_names_the_item():
    with pytest.raises(StepError, match="where failed on item 0"):
        process(operation="filter", items=LEADS, where="item.nope.deeper > 1")


def test_sort_puts_missing_values_last_both_ways():
    ascending = process(operation="sort", items=LEADS, by="score")
    assert [i["name"] for i in ascending["items"]] == ["Dee", "Ann", "Cid", "bob"]
    descending = process(operation="sort", items=LEADS, by="score", descending=True)
    assert [i["name"] for i in descending["items"]] == ["Cid", "Ann", "Dee", "bob"]
    by_size = process(operation="sort", items=LEADS, by=["company.size"], descending=True)
    assert [i["name"] for i in by_size["items"]] == ["bob", "Ann", "Dee", "Cid"]
    assert by_size["count"] == 4


def test_sort_by_several_fields_and_mixed_types():
    items = [{"t": "b", "n": 2}, {"t": "A", "n": 3}, {"t": "b", "n": 1}, {"t": 7, "n": 0}]
    result = process(operation="sort", items=items, by=["t", "n"])
    assert result["items"] == [
        {"t": 7, "n": 0},
        {"t": "A", "n": 3},
        {"t": "b", "n": 1},
        {"t": "b", "n": 2},
    ]


def test_limit_and_pick_and_merge():
    assert process(operation="limit", items=LEADS, count=2)["items"] == LEADS[:2]
    assert process(operation="limit", items=LEADS, count=0) == {"items": [], "count": 0}
    assert process(operation="limit", items=LEADS[:1], count=10)["count"] == 1
    with pytest.raises(StepError, match="count must be a whole number"):
        process(operation="limit", items=LEADS, count=-1)
    picked = process(operation="pick", items=LEADS[:2], fields=["name", "company.size", "x"])
    assert picked["items"] == [
        {"name": "Ann", "size": 50, "x": None},
        {"name": "bob", "size": 500, "x": None},
    ]
    with pytest.raises(StepError, match="would both be output as 'name'"):
        process(operation="pick", items=LEADS, fields=["name", "company.name"])
    merged = process(operation="merge", lists=[[1, 2], None, [3]])
    assert merged == {"items": [1, 2, 3], "count": 3}
    with pytest.raises(StepError, match=r"lists\[1\] must be a list, got a number \(5\)"):
        process(operation="merge", lists=[[1], 5])


def test_unknown_operation():
    with pytest.raises(StepError, match="unknown data_processing operation 'explode'"):
        process(operation="explode", items=[])


# --- in a real run ------------------------------------------------------------------------


def test_pipeline_in_a_run(seeded, tmp_path: Path):
    recipe = {
        "slug": "dp",
        "name": "DP",
        "version": 1,
        "description": "data processing",
        "inputs": {"type": "object", "properties": {}},
        "steps": [
            {
                "id": "a",
                "type": "state",
                "set": {
                    "leads": [
                        {"email": "x@a.com", "score": 5},
                        {"email": "X@A.com ", "score": 9},
                        {"email": "y@b.com", "score": 7},
                    ]
                },
            },
            {
                "id": "dedupe",
                "type": "action",
                "action": "data_processing",
                "operation": "dedupe",
                "items": "{{ state.leads }}",
                "keys": ["email"],
            },
            {
                "id": "more",
                "type": "action",
                "action": "data_processing",
                "operation": "merge",
                "lists": ["{{ steps.dedupe.output.items }}", [{"email": "z@c.com", "score": 1}]],
            },
            {
                "id": "keep",
                "type": "action",
                "action": "data_processing",
                "operation": "filter",
                "items": "{{ steps.more.output.items }}",
                "where": "item.score > 2",
            },
            {
                "id": "top",
                "type": "action",
                "action": "data_processing",
                "operation": "sort",
                "items": "{{ steps.keep.output.items }}",
                "by": "score",
                "descending": True,
            },
            {
                "id": "one",
                "type": "action",
                "action": "data_processing",
                "operation": "limit",
                "items": "{{ steps.top.output.items }}",
                "count": 1,
            },
            {
                "id": "bad",
                "type": "action",
                "action": "data_processing",
                "operation": "limit",
                "items": "{{ steps.one.output.count }}",
                "count": 1,
                "on_error": "continue",
            },
        ],
        "outputs": {"best": "{{ steps.one.output.items[0].email }}"},
    }
    path = tmp_path / "dp.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    result = Runner(seeded, settings).run(load_and_validate(str(path)), "acme", {})
    assert result.status == "partial", result.error
    assert result.outputs == {"best": "y@b.com"}
    steps = {s.id: s for s in result.steps}
    assert steps["dedupe"].output["removed"] == 1
    assert steps["keep"].output["count"] == 2
    assert steps["bad"].status == "failed"
    assert steps["bad"].error == "items must be a list, got a number (1)"


def test_a_field_no_item_has_is_warned_of():
    """Regression: `where: {data.revnue: 5}` removed every item, `pick: [emial]` gave nulls
    and sorting by a misspelt field did nothing, all without a word."""
    items = [{"name": "a", "data": {"revenue": 5}}, {"name": "b", "data": {"revenue": 7}}]
    ctx = make_ctx()
    action = DataProcessing()
    filtered = action.run({"operation": "filter", "items": items, "where": {"data.revnue": 5}}, ctx)
    assert filtered["count"] == 0
    action.run({"operation": "pick", "items": items, "fields": ["emial", "name"]}, ctx)
    action.run({"operation": "sort", "items": items, "by": ["data.revenue", "nme"]}, ctx)
    assert ctx.warnings == [
        "step process: filter field 'data.revnue' is in none of the 2 item(s); the first "
        "item's fields: name, data",
        "step process: pick field 'emial' is in none of the 2 item(s); the first item's "
        "fields: name, data",
        "step process: sort field 'nme' is in none of the 2 item(s); the first item's fields: "
        "name, data",
    ]
    # A field some items have, or no items at all, is not worth a warning.
    quiet = make_ctx()
    action.run(
        {"operation": "filter", "items": items[:1] + [{"x": 1}], "where": {"name": "a"}}, quiet
    )
    action.run({"operation": "sort", "items": [], "by": "nme"}, quiet)
    assert quiet.warnings == []
