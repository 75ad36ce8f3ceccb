"""`hunter seed`: the demo data, loaded idempotently, and recipe files registered as versions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.db.models import (
    Agent,
    AuditLog,
    CreditTransaction,
    Customer,
    Recipe,
    Subscription,
    SubscriptionPlan,
)
from hunter_cli.errors import ValidationError
from hunter_cli.resources import bundled_dir
from hunter_cli.seeding import apply_seed, register_recipe_file

TABLES = (Customer, Agent, SubscriptionPlan, Subscription, CreditTransaction, Recipe, AuditLog)


def _counts(db) -> dict[str, int]:
    with db.session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in TABLES
        }


def _seed(db, recipe_dirs: list[Path] | None = None):
    with db.session() as session:
        return apply_seed(session, bundled_dir("seeds"), recipe_dirs or [], actor="tester")


def test_seed_loads_the_demo_data(db):
    report = _seed(db)
    assert report.changed
    assert report.created == {"customers": 3, "agents": 1, "plans": 4, "subscriptions": 3}
    with db.session() as session:
        slugs = session.scalars(select(Customer.slug).order_by(Customer.slug)).all()
        assert slugs == ["acme", "global", "techstartup"]
        assert session.scalar(select(func.count()).select_from(Agent)) == 1
        plans = session.scalars(select(SubscriptionPlan).order_by(SubscriptionPlan.slug)).all()
        assert {p.slug: (p.monthly_credits, p.rollover) for p in plans} == {
            "enterprise": (Decimal("10000"), True),
            "free": (Decimal("10"), False),
            "pro": (Decimal("1000"), False),
            "starter": (Decimal("100"), False),
        }
        balances = {b.customer: b for b in ledger.balances(session)}
        assert {c: (b.plan, b.status, b.granted, b.available) for c, b in balances.items()} == {
            "acme": ("Pro", "active", Decimal("1000"), Decimal("1000")),
            "techstartup": ("Starter", "active", Decimal("100"), Decimal("100")),
            "global": ("Enterprise", "active", Decimal("10000"), Decimal("10000")),
        }
        grants = session.scalars(select(CreditTransaction)).all()
        assert sorted(tx.kind for tx in grants) == ["grant"] * 3
        assert all(tx.idempotency_key.startswith("seed:allowance:") for tx in grants)
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.seq)).all()
        assert actions == ["credits.grant"] * 3 + ["seed.apply"]
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def test_seed_twice_changes_nothing(db):
    _seed(db)
    before = _counts(db)
    report = _seed(db)
    assert not report.changed
    assert (report.created, report.updated) == ({}, {})
    assert _counts(db) == before  # no rows, no audit entries


def test_seed_restores_a_changed_seed_value(db):
    _seed(db)
    with db.session() as session:
        plan = session.scalars(select(SubscriptionPlan).where(SubscriptionPlan.slug == "pro")).one()
        plan.monthly_credits = Decimal("5")
    report = _seed(db)
    assert report.updated == {"plans": 1}
    with db.session() as session:
        plan = session.scalars(select(SubscriptionPlan).where(SubscriptionPlan.slug == "pro")).one()
        assert plan.monthly_credits == Decimal("1000")
        assert session.scalars(select(AuditLog.action).order_by(AuditLog.seq.desc())).first() == (
            "seed.apply"
        )


def test_a_changed_recipe_file_becomes_a_new_version(db, tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    demo = recipes / "demo.yaml"
    demo.write_text(
        "slug: demo\nname: Demo\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )

    first = _seed(db, [recipes])
    assert first.created["recipe_versions"] == 1
    assert first.recipes == [{"slug": "demo", "version": 1, "new": True, "path": str(demo)}]

    unchanged = _seed(db, [recipes])
    assert not unchanged.changed
    assert unchanged.recipes[0]["new"] is False

    demo.write_text(
        "slug: demo\nname: Demo v2\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )
    second = _seed(db, [recipes])
    assert second.changed
    assert second.created == {"recipe_versions": 1}
    assert second.recipes[0]["version"] == 2
    with db.session() as session:
        rows = session.scalars(select(Recipe).order_by(Recipe.version)).all()
        assert [(r.slug, r.version, r.name) for r in rows] == [
            ("demo", 1, "Demo"),
            ("demo", 2, "Demo v2"),
        ]
        assert rows[1].content == demo.read_text()
        agent = session.scalars(select(Agent)).one()
        assert all(r.agent_id == agent.id for r in rows)


def test_register_recipe_file_directly(db, tmp_path):
    path = tmp_path / "other-name.yaml"
    path.write_text(
        "slug: demo\nname: Demo\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )
    with db.session() as session:
        recipe, created = register_recipe_file(session, path)
        assert (recipe.slug, recipe.version, created) == ("demo", 1, True)
        again, created_again = register_recipe_file(session, path)
        assert (again.id, created_again) == (recipe.id, False)
        path.write_text(
            "slug: demo\nname: Demo\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
            "# a comment counts as a change\n"
        )
        newer, created_newer = register_recipe_file(session, path)
        assert (newer.version, created_newer) == (2, True)


def test_the_workspace_recipe_wins_over_a_bundled_one_of_the_same_slug(db, tmp_path):
    mine, bundled = tmp_path / "mine", tmp_path / "bundled"
    mine.mkdir()
    bundled.mkdir()
    (mine / "demo.yaml").write_text(
        "slug: demo\nname: Mine\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )
    (bundled / "demo.yaml").write_text(
        "slug: demo\nname: Bundled\nversion: 1\nsteps: [{id: a, type: state, set: {x: 1}}]\n"
    )
    report = _seed(db, [mine, bundled])
    assert [r["path"] for r in report.recipes] == [str(mine / "demo.yaml")]


def test_a_broken_recipe_file_is_a_validation_error(db, tmp_path):
    path = tmp_path / "broken.yaml"
    for content, message in (
        ("slug: [unclosed\n", "invalid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ):
        path.write_text(content)
        with pytest.raises(ValidationError, match=message), db.session() as session:
            register_recipe_file(session, path)


def test_a_malformed_seed_file_names_file_and_line(db, tmp_path):
    (tmp_path / "customers.yaml").write_text("customers:\n  - slug: a\n    name: [oops\n")
    where = r"customers\.yaml:\d+:\d+: invalid YAML"
    with pytest.raises(ValidationError, match=where), db.session() as session:
        apply_seed(session, tmp_path, [], actor="t")
