"""db_query: the named lead queries, the write guard, customer isolation, and a recipe that
finds and stores leads end to end, on both backends."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from hunter_cli.components.actions.db_query import DbQuery
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import Settings, load_settings
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AuditLog, Lead
from hunter_cli.engine.runner import Runner
from hunter_cli.leads import upsert_leads
from hunter_cli.recipe import RecipeInvalid, load_and_validate, load_recipe_file
from hunter_cli.recipe.templates import evaluate_expression, render_value

LEADS = [
    {"name": "Ann Lee", "email": "ann@a.example", "source_provider": "local"},
    {"name": "Bob Roe", "domain": "b.example", "score": 70, "tier": "B"},
]


def make_ctx(session, slug: str = "acme") -> StepContext:
    return StepContext(
        session=session,
        settings=Settings(None, None, None, None, "tester"),
        customer_id=resolve_customer(session, slug).id,
        execution_id=uuid.uuid4(),
        step_id="store",
        actor="tester",
        template_context={"inputs": {}, "steps": {}, "state": {}},
        render_fn=render_value,
        evaluate_fn=evaluate_expression,
    )


def query(session, name: str, params=None, *, write: bool | None = None, slug: str = "acme"):
    step = {"action": "db_query", "query": name, "params": params or {}}
    if write is not None:
        step["write"] = write
    return DbQuery().run(step, make_ctx(session, slug))


@pytest.mark.parametrize("name", ["upsert_leads", "update_lead"])
@pytest.mark.parametrize("write", [None, False])
def test_writes_need_write_true(seeded, name, write):
    with seeded.session() as session:
        with pytest.raises(StepError) as caught:
            query(session, name, {"leads": LEADS}, write=write)
        assert caught.value.message == f"db_query {name} writes: add `write: true` to the step"
        assert session.scalars(select(Lead)).all() == []


def test_upsert_then_find_get_and_update(seeded):
    with seeded.session() as session:
        ctx = make_ctx(session)
        stored = DbQuery().run(
            {"query": "upsert_leads", "params": {"leads": LEADS}, "write": True}, ctx
        )
        assert (stored["created"], stored["updated"], stored["skipped"]) == (2, 0, 0)
        ann, bob = stored["leads"]
        uuid.UUID(ann["id"])
        assert ann["source"] == {
            "provider": "local",
            "step": "store",
            "execution": str(ctx.execution_id),
        }
        assert bob["source"]["provider"] == "recipe"
        assert bob["data"]["_provenance"]["score"] == "recipe"
        entry = session.scalars(select(AuditLog).order_by(AuditLog.seq.desc())).first()
        assert entry.action == "leads.upsert"
        assert entry.execution_id == ctx.execution_id
        assert entry.details == {
            "step": "store",
            "provider": "recipe",
            "created": 2,
            "updated": 0,
            "skipped": 0,
        }

        again = query(session, "upsert_leads", {"leads": {"leads": LEADS}}, write=True)
        assert (again["created"], again["updated"]) == (0, 2)

        found = query(session, "find_leads", {"min_score": "50"})
        assert found["count"] == 1 and found["leads"][0]["name"] == "Bob Roe"
        assert query(session, "find_leads", {"ids": [ann["id"]]})["leads"][0]["email"] == (
            "ann@a.example"
        )
        assert query(session, "get_lead", {"email": "ANN@a.example"})["lead"]["id"] == ann["id"]

        changed = query(
            session, "update_lead", {"id": ann["id"], "fields": {"score": 90, "tier": "A"}},
            write=True,
        )  # fmt: skip
        assert (changed["lead"]["score"], changed["lead"]["tier"]) == (90, "A")
        assert changed["lead"]["data"]["_provenance"]["score"] == "step:store"


def test_lead_ids_that_are_not_stored_are_named_in_a_warning(seeded):
    with seeded.session() as session:
        (ann,) = query(session, "upsert_leads", {"leads": LEADS[:1]}, write=True)["leads"]
        ctx = make_ctx(session)
        nobody = str(uuid.uuid4())
        step = {"action": "db_query", "query": "find_leads"}
        found = DbQuery().run({**step, "params": {"ids": [ann["id"].upper(), nobody]}}, ctx)
        assert [lead["id"] for lead in found["leads"]] == [ann["id"]]
        assert ctx.warnings == [
            f"1 of the lead ids given are not stored for this customer: {nobody}"
        ]
        quiet = make_ctx(session)
        DbQuery().run({**step, "params": {"ids": [ann["id"]]}}, quiet)
        assert quiet.warnings == []


def test_skipped_leads_are_reported(seeded):
    with seeded.session() as session:
        ctx = make_ctx(session)
        output = DbQuery().run(
            {"query": "upsert_leads", "write": True,
             "params": {"leads": [{"name": "No Key"}, *LEADS]}},
            ctx,
        )  # fmt: skip
        assert (output["created"], output["skipped"]) == (2, 1)
        assert ctx.warnings == [
            "step store: 1 lead(s) not stored (lead #1: a lead needs an email, or both a "
            "domain and a name)"
        ]


def test_a_recipe_sees_only_its_customers_leads(seeded):
    with seeded.session() as session:
        other = resolve_customer(session, "techstartup")
        theirs = upsert_leads(session, other, [{"email": "t@t.example"}], source={}).leads[0]
        assert query(session, "find_leads")["count"] == 0
        with pytest.raises(StepError, match="no lead"):
            query(session, "get_lead", {"id": str(theirs.id)})
        with pytest.raises(StepError, match="no lead"):
            query(session, "update_lead", {"id": str(theirs.id), "fields": {"score": 1}},
                  write=True)  # fmt: skip
        assert query(session, "find_leads", slug="techstartup")["count"] == 1


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("drop_table", {}, "unknown db_query 'drop_table'"),
        ("find_leads", {"sql": "select 1"}, "db_query find_leads does not take params.sql"),
        ("find_leads", {"limit": 0}, "limit must be at least 1"),
        ("find_leads", {"ids": ["x"]}, "not a lead id: 'x'"),
        ("get_lead", {}, "db_query get_lead needs params.id or params.email"),
        ("get_lead", {"email": "who@x.example"}, "no lead 'who@x.example' for customer acme"),
    ],
)
def test_bad_queries(seeded, name, params, message):
    with seeded.session() as session, pytest.raises(StepError, match=re.escape(message)):
        query(session, name, params)


def test_bad_writes(seeded):
    with seeded.session() as session:
        with pytest.raises(StepError, match="params.leads must be a list"):
            query(session, "upsert_leads", {"leads": "everyone"}, write=True)
        with pytest.raises(StepError, match="needs params.fields"):
            query(session, "update_lead", {"email": "a@b.example"}, write=True)
    plan = DbQuery().plan({"query": "upsert_leads", "write": True}, None)  # type: ignore[arg-type]
    assert plan == {"provider": None, "query": "upsert_leads", "writes": True}


RECIPE = {
    "slug": "find-and-store",
    "name": "Find and store",
    "version": 1,
    "inputs": {"type": "object", "properties": {"query": {"type": "string"}}},
    "steps": [
        {"id": "search", "type": "action", "action": "lead_search",
         "query": "{{ inputs.query }}", "limit": 10},
        {"id": "store", "type": "action", "action": "db_query", "query": "upsert_leads",
         "write": True, "params": {"leads": "{{ steps.search.output.leads }}"}},
        {"id": "best", "type": "action", "action": "db_query", "query": "find_leads",
         "params": {"limit": 3, "order": "name"}},
    ],
    "outputs": {
        "created": "{{ steps.store.output.created }}",
        "updated": "{{ steps.store.output.updated }}",
        "ids": "{{ steps.store.output.leads | map(attribute='id') | list }}",
        "best": "{{ steps.best.output.count }}",
    },
}  # fmt: skip


def test_find_and_store_in_a_real_run(seeded, tmp_path: Path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(RECIPE, sort_keys=False))
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    runner = Runner(seeded, settings)
    first = runner.run(load_and_validate(str(path)), "acme", {"query": "SaaS founders"})
    assert first.status == "success", first.error
    assert (first.outputs["created"], first.outputs["updated"]) == (10, 0)
    assert first.outputs["best"] == 3
    second = runner.run(load_and_validate(str(path)), "acme", {"query": "SaaS founders"})
    assert (second.outputs["created"], second.outputs["updated"]) == (0, 10)
    assert second.outputs["ids"] == first.outputs["ids"]
    with seeded.session() as session:
        leads = session.scalars(select(Lead)).all()
        assert len(leads) == 10
        assert all(lead.source["provider"] == "local" for lead in leads)
        assert all(lead.source["execution"] == str(first.execution_id) for lead in leads)
        assert all(lead.last_seen > lead.first_seen for lead in leads)
        upserts = session.scalars(
            select(AuditLog).where(AuditLog.action == "leads.upsert").order_by(AuditLog.seq)
        ).all()
        assert [e.details["created"] for e in upserts] == [10, 0]
        assert [e.execution_id for e in upserts] == [first.execution_id, second.execution_id]


def test_a_recipe_without_write_fails_the_step(seeded, tmp_path: Path):
    recipe = {**RECIPE, "steps": [RECIPE["steps"][0], {**RECIPE["steps"][1], "write": False}]}
    recipe["outputs"] = {}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    # `recipes validate` reports it; a recipe run without validation still cannot write.
    with pytest.raises(RecipeInvalid, match="db_query upsert_leads writes: add `write: true`"):
        load_and_validate(str(path))
    settings = load_settings(database_url=seeded.url, actor="tester", environ={})
    result = Runner(seeded, settings).run(load_recipe_file(str(path)), "acme", {"query": "x"})
    assert result.status == "failed"
    assert result.steps[1].error == "db_query upsert_leads writes: add `write: true` to the step"
    with seeded.session() as session:
        assert session.scalars(select(Lead)).all() == []
