"""`action: db_query`: named, parameterised queries against the customer's lead store.

A recipe never sends SQL: it names one of QUERIES and passes parameters. Every query runs
for the run's own customer (ctx.customer), so a recipe cannot read or change another
customer's leads, and the queries that write need `write: true` on the step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hunter_cli.components.base import StepContext, StepError
from hunter_cli.errors import HunterError

# query -> the parameters it accepts.
QUERIES: dict[str, tuple[str, ...]] = {
    "find_leads": (
        *("min_score", "tier", "ids", "emails", "domain", "limit", "order"),
        *("uncontacted_by", "skip_suppressed"),
    ),
    "get_lead": ("id", "email"),
    "upsert_leads": ("leads",),
    "update_lead": ("id", "email", "fields"),
}
WRITES = frozenset({"upsert_leads", "update_lead"})
DEFAULT_SOURCE = "recipe"


def _flag(name: str, value: Any) -> bool:
    if value is None or value == "":
        return False
    if not isinstance(value, bool):
        raise StepError(f"{name} must be true or false, not {value!r}")
    return value


def _whole(name: str, value: Any, minimum: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise StepError(f"{name} must be a whole number, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StepError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise StepError(f"{name} must be at least {minimum}, not {value!r}")
    return number


def _ref(params: dict[str, Any], query: str) -> Any:
    ref = params.get("id") or params.get("email")
    if not ref:
        raise StepError(f"db_query {query} needs params.id or params.email")
    return ref


class DbQuery:
    def run(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        name = params.get("query")
        if name not in QUERIES:
            raise StepError(f"unknown db_query {name!r}; known queries: " + ", ".join(QUERIES))
        if name in WRITES and params.get("write") is not True:
            raise StepError(f"db_query {name} writes: add `write: true` to the step")
        arguments = params.get("params") or {}
        if not isinstance(arguments, dict):
            raise StepError(f"db_query params must be a mapping, not {type(arguments).__name__}")
        unknown = sorted(set(arguments) - set(QUERIES[name]))
        if unknown:
            raise StepError(
                f"db_query {name} does not take params.{unknown[0]}; it takes: "
                + ", ".join(QUERIES[name])
            )
        handler: Callable[[dict[str, Any], StepContext], dict[str, Any]] = getattr(self, f"_{name}")
        try:
            return handler(arguments, ctx)
        except HunterError as exc:  # not found, a bad id or score: the step's fault
            raise StepError(exc.message) from None

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        name = params.get("query")
        return {"provider": None, "query": name, "writes": name in WRITES}

    # -- the queries ------------------------------------------------------------------------
    def _find_leads(self, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.leads import find_leads, lead_to_dict

        leads = find_leads(
            ctx.session,
            ctx.customer,
            min_score=_whole("min_score", args.get("min_score"), 0),
            tier=args.get("tier"),
            ids=args.get("ids"),
            emails=args.get("emails"),
            domain=args.get("domain"),
            limit=_whole("limit", args.get("limit"), 1),
            order=args.get("order") or "recent",
            uncontacted_by=self._uncontacted_by(args.get("uncontacted_by"), ctx),
            skip_suppressed=_flag("skip_suppressed", args.get("skip_suppressed")),
        )
        found = [lead_to_dict(lead) for lead in leads]
        asked = args.get("ids")
        if asked:
            # Named leads that are not stored (a typo, another customer's id) are worth a word:
            # "0 leads" alone reads as "nothing to do".
            wanted = [str(i).strip() for i in (asked if isinstance(asked, list) else [asked])]
            have = {lead["id"] for lead in found}
            missing = [i for i in wanted if i and i.lower() not in have]
            if missing and len(found) < (args.get("limit") or len(wanted)):
                ctx.warnings.append(
                    f"{len(missing)} of the lead ids given are not stored for this customer: "
                    + ", ".join(missing[:5])
                    + (", ..." if len(missing) > 5 else "")
                )
        return {"leads": found, "count": len(found)}

    @staticmethod
    def _uncontacted_by(step_id: Any, ctx: StepContext) -> tuple[str, str] | None:
        """(this run's recipe, step_id): the e-mail step whose earlier messages count."""
        if step_id is None or step_id == "":
            return None
        if not isinstance(step_id, str):
            raise StepError(f"uncontacted_by names a step of this recipe, not {step_id!r}")
        from sqlalchemy import select

        from hunter_cli.db.models import Execution

        recipe = ctx.session.scalar(
            select(Execution.recipe_slug).where(Execution.id == ctx.execution_id)
        )
        return (recipe or "", step_id)

    def _get_lead(self, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.leads import get_lead, lead_to_dict

        return {"lead": lead_to_dict(get_lead(ctx.session, ctx.customer, _ref(args, "get_lead")))}

    def _upsert_leads(self, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.leads import lead_to_dict, upsert_leads

        leads = args.get("leads")
        if isinstance(leads, dict):  # a lead_search (leads) or scoring (items) step's output
            leads = next(
                (leads[k] for k in ("leads", "items") if isinstance(leads.get(k), list)), leads
            )
        if leads is None:
            raise StepError("db_query upsert_leads needs params.leads (a list of leads)")
        if not isinstance(leads, list):
            raise StepError(f"params.leads must be a list of leads, not {type(leads).__name__}")
        source = {
            "provider": DEFAULT_SOURCE,
            "step": ctx.step_id,
            "execution": str(ctx.execution_id),
        }
        report = upsert_leads(
            ctx.session,
            ctx.customer,
            leads,
            source=source,
            actor=ctx.actor,
            execution_id=ctx.execution_id,
        )
        if report.skipped:
            first_index, first_reason = report.skipped[0]
            ctx.warnings.append(
                f"step {ctx.step_id}: {len(report.skipped)} lead(s) not stored "
                f"(lead #{first_index + 1}: {first_reason})"
            )
        return {
            "created": report.created,
            "updated": report.updated,
            "skipped": len(report.skipped),
            "leads": [lead_to_dict(lead) for lead in report.leads],
        }

    def _update_lead(self, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.leads import lead_to_dict, update_lead

        fields = args.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise StepError("db_query update_lead needs params.fields, e.g. {score: 80}")
        lead = update_lead(
            ctx.session,
            ctx.customer,
            _ref(args, "update_lead"),
            fields,
            provider=f"step:{ctx.step_id}",
        )
        return {"lead": lead_to_dict(lead)}
