"""`hunter seed`: load seeds/ and register recipe files, idempotently."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from hunter_cli import ledger
from hunter_cli.audit import append_audit
from hunter_cli.db.models import Agent, Customer, Recipe, Subscription, SubscriptionPlan
from hunter_cli.db.types import to_credits
from hunter_cli.errors import ValidationError


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    recipes: list[dict[str, Any]] = field(default_factory=list)
    # Recipe files not registered because they are invalid: {"path", "problems"} each.
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def count(self, bucket: str, entity: str) -> None:
        target = self.created if bucket == "created" else self.updated
        target[entity] = target.get(entity, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "created": self.created,
            "updated": self.updated,
            "recipes": self.recipes,
            "skipped": self.skipped,
        }


def _read_seed(path: Path, key: str) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ValidationError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    items = data.get(key, []) if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValidationError(f"{path}: expected a list of mappings under '{key}'")
    return items


def _upsert(session, model, slug: str, values: dict[str, Any], report: SeedReport, name: str):
    row = session.scalars(select(model).where(model.slug == slug)).first()
    if row is None:
        row = model(slug=slug, **values)
        session.add(row)
        session.flush()
        report.count("created", name)
        return row
    changed = False
    for attr, value in values.items():
        if getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    if changed:
        report.count("updated", name)
    return row


def apply_seed(
    session: Session, seeds_dir: Path, recipe_dirs: list[Path], *, actor: str
) -> SeedReport:
    report = SeedReport()
    for item in _read_seed(seeds_dir / "customers.yaml", "customers"):
        _upsert(
            session,
            Customer,
            item["slug"],
            {
                "name": item["name"],
                "email": item.get("email"),
                "settings": item.get("settings") or {},
            },
            report,
            "customers",
        )
    for item in _read_seed(seeds_dir / "agents.yaml", "agents"):
        _upsert(
            session,
            Agent,
            item["slug"],
            {"name": item["name"], "description": item.get("description")},
            report,
            "agents",
        )
    for item in _read_seed(seeds_dir / "plans.yaml", "plans"):
        _upsert(
            session,
            SubscriptionPlan,
            item["slug"],
            {
                "name": item["name"],
                "monthly_credits": to_credits(item["monthly_credits"]),
                "price": to_credits(item["price"]),
                "currency": item.get("currency", "USD"),
                "rollover": bool(item.get("rollover", False)),
                "description": item.get("description"),
            },
            report,
            "plans",
        )
    session.flush()
    for item in _read_seed(seeds_dir / "subscriptions.yaml", "subscriptions"):
        _seed_subscription(session, item["customer"], item["plan"], actor, report)

    agent = session.scalars(select(Agent).order_by(Agent.created_at)).first()
    register_recipes(session, recipe_dirs, report, agent_id=agent.id if agent else None)
    if report.changed:
        append_audit(session, "seed.apply", actor=actor, details=report.to_dict())
    return report


def _seed_subscription(
    session: Session, customer_slug: str, plan_slug: str, actor: str, report: SeedReport
) -> None:
    customer = session.scalars(select(Customer).where(Customer.slug == customer_slug)).one()
    exists = session.scalars(
        select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.status == "active"
        )
    ).first()
    if exists is not None:
        return
    plan = ledger.ensure_plan(session, plan_slug)
    ledger.start_subscription(session, customer, plan, actor=actor, key="seed:allowance:{sub}")
    report.count("created", "subscriptions")


def register_recipe_file(session: Session, path: Path, *, agent_id=None) -> tuple[Recipe, bool]:
    """Store a recipe's content under its slug; a changed file becomes a new version."""
    from hunter_cli.engine.recipes import store_recipe_version

    raw = path.read_bytes()
    text = raw.decode("utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: a recipe must be a YAML mapping")
    slug = str(data.get("slug") or path.stem)
    return store_recipe_version(
        session,
        slug=slug,
        name=str(data.get("name") or slug),
        description=data.get("description"),
        content=text,
        content_hash=hashlib.sha256(raw).hexdigest(),
        source_path=str(path),
        agent_id=agent_id,
    )


def register_recipes(
    session: Session, dirs: list[Path], report: SeedReport, *, agent_id=None
) -> None:
    from hunter_cli.engine.catalog import recipe_problems
    from hunter_cli.engine.recipes import recipe_files

    for slug, path in recipe_files(dirs).items():
        # Validated as `hunter recipes validate` does: a file that could never run is not
        # stored as a version, and one bad file does not stop the rest from loading.
        problems = recipe_problems(path, in_recipe_folder=True)
        if problems:
            report.skipped.append({"path": str(path), "problems": problems})
            continue
        recipe, created = register_recipe_file(session, path, agent_id=agent_id)
        if created:
            report.count("created", "recipe_versions")
        report.recipes.append(
            {"slug": slug, "version": recipe.version, "new": created, "path": str(path)}
        )
