"""`action: waterfall`: one lookup (find an email, verify one, enrich a company) asked of
several lead providers in order, stopping at the first answer that passes that provider's
`accept` check.

Each provider has its own price (`credits`, default 0.01). The step is charged the prices of
the providers that answered (found something or not), never of those it did not reach or
that failed before answering (missing key, refused key, unreachable): ctx.credits_used, and
StepError.credits_used when no answer was good enough. The run's hold is the sum of all the
prices (estimate_step_credits), so the worst case is always covered. The step is never
failed as transient: a retry would ask (and charge for) the providers again, beyond the hold;
rate limits are already retried inside each provider.

    - id: email
      type: action
      action: waterfall
      lookup: find_email
      input: {first_name: "{{ item.first }}", last_name: "{{ item.last }}", domain: acme.com}
      providers:
        - {provider: hunter_io, credits: 0.02,
           accept: {field: verification.status, in: [valid, deliverable]}}
        - {provider: apollo, credits: 0.03}
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from hunter_cli.components.actions.data_processing import MISSING, is_empty, lookup
from hunter_cli.components.actions.lead_search import (
    build_provider,
    key_status,
    provider_failure,
)
from hunter_cli.components.base import StepContext, StepError

DEFAULT_PROVIDER_CREDITS = Decimal("0.01")
# What counts as an answer when a provider's entry says nothing: a deliverable address, or a
# company that was found.
DEFAULT_ACCEPT: dict[str, list[dict[str, Any]]] = {
    "find_email": [{"field": "verification.status", "in": ["valid", "deliverable"]}],
    "verify_email": [{"field": "verification.status", "in": ["valid", "deliverable"]}],
    "enrich_company": [{"field": "company", "exists": True}],
}
CHECKS = ("in", "equals", "min", "max", "exists")


def _credits(value: Any, where: str) -> Decimal:
    from hunter_cli.db.types import to_credits

    if value is None:
        return DEFAULT_PROVIDER_CREDITS
    if isinstance(value, bool):
        raise StepError(f"{where}.credits must be a number of at least 0, not {value!r}")
    try:
        credits = to_credits(value)
    except (InvalidOperation, TypeError, ValueError):
        raise StepError(f"{where}.credits must be a number of at least 0, not {value!r}") from None
    if credits < 0:
        raise StepError(f"{where}.credits must be a number of at least 0, not {value!r}")
    return credits


def _accept_rules(value: Any, lookup_name: str, where: str) -> list[dict[str, Any]]:
    if value is None:
        return DEFAULT_ACCEPT[lookup_name]
    rules = value if isinstance(value, list) else [value]
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("field"), str):
            raise StepError(f"{where}.accept must be a mapping with a field, or a list of them")
        checks = [c for c in CHECKS if c in rule]
        extra = sorted(set(rule) - {"field", *CHECKS})
        if len(checks) != 1 or extra:
            raise StepError(
                f"{where}.accept: give field and exactly one of {', '.join(CHECKS)} "
                f"(got {', '.join(sorted(rule))})"
            )
        if "in" in rule and not isinstance(rule["in"], list):
            raise StepError(f"{where}.accept.in must be a list of values")
    return rules


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    return a == b


def rejection(answer: dict[str, Any], rules: list[dict[str, Any]]) -> str | None:
    """Why the answer fails the accept rules, or None when it passes them all."""
    for rule in rules:
        field = rule["field"]
        value = lookup(answer, field)
        shown = "missing" if value is MISSING else repr(value)
        if "exists" in rule:
            if bool(rule["exists"]) == is_empty(value):
                return f"{field} is {shown}" if rule["exists"] else f"{field} is present"
        elif "in" in rule:
            if not any(_same(value, allowed) for allowed in rule["in"]):
                allowed = ", ".join(str(a) for a in rule["in"])
                return f"{field} is {shown}, not one of {allowed}"
        elif "equals" in rule:
            if not _same(value, rule["equals"]):
                return f"{field} is {shown}, not {rule['equals']!r}"
        else:
            bound, low = ("min", True) if "min" in rule else ("max", False)
            try:
                number = float(value)
                ok = number >= float(rule[bound]) if low else number <= float(rule[bound])
            except (TypeError, ValueError):
                ok = False
            if not ok:
                return f"{field} is {shown}, {'below' if low else 'above'} {rule[bound]}"
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def lookup_arguments(lookup_name: str, given: Any) -> dict[str, Any]:
    """The lookup's keyword arguments from the step's `input`."""
    if not isinstance(given, dict):
        raise StepError(f"input must be a mapping, not {type(given).__name__}")
    if lookup_name == "find_email":
        first, last = _text(given.get("first_name")), _text(given.get("last_name"))
        full = _text(given.get("name") or given.get("full_name"))
        if not (first or last) and full:
            first, _, rest = full.partition(" ")
            last = rest.strip() or None
        domain, company = _text(given.get("domain")), _text(given.get("company"))
        if not (first or last):
            raise StepError("find_email needs input.first_name and input.last_name (or name)")
        if not (domain or company):
            raise StepError("find_email needs input.domain (or input.company)")
        return {"first_name": first, "last_name": last, "domain": domain, "company": company}
    if lookup_name == "verify_email":
        email = _text(given.get("email"))
        if not email or "@" not in email:
            raise StepError(f"verify_email needs input.email, an address; got {email!r}")
        return {"email": email}
    domain = _text(given.get("domain"))
    if not domain:
        raise StepError("enrich_company needs input.domain")
    return {"domain": domain}


def _entries(params: dict[str, Any], lookup_name: str) -> list[dict[str, Any]]:
    providers = params.get("providers")
    if not isinstance(providers, list) or not providers:
        raise StepError("providers must be a non-empty list of {provider, credits, accept}")
    entries = []
    for index, entry in enumerate(providers):
        where = f"providers[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("provider"), str):
            raise StepError(f"{where} must be a mapping with a provider name")
        entries.append(
            {
                "provider": entry["provider"].strip(),
                "credits": _credits(entry.get("credits"), where),
                "accept": _accept_rules(entry.get("accept"), lookup_name, where),
            }
        )
    return entries


def _warn_skipped(ctx: StepContext, name: str, reason: str) -> None:
    """Once per provider per step, in the run's warnings: a provider the lookup had to pass
    over (no key, a refused key, a wrong setting, a failure)."""
    prefix = f"step {ctx.step_id}: {name} skipped: "
    if not any(w.startswith(prefix) for w in ctx.warnings):
        ctx.warnings.append(prefix + reason.removeprefix(f"{name}: "))


def _lookup_name(params: dict[str, Any]) -> str:
    from hunter_cli.providers.leads import LOOKUPS

    name = params.get("lookup")
    if name not in LOOKUPS:
        raise StepError(f"lookup must be one of {', '.join(LOOKUPS)}, not {name!r}")
    return str(name)


class Waterfall:
    """Returns {"found", "lookup", "provider", "result", "tried": [{provider, credits,
    accepted, reason}]}."""

    def run(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.providers.leads import LeadProviderError, MissingApiKeyError

        lookup_name = _lookup_name(params)
        entries = _entries(params, lookup_name)
        arguments = lookup_arguments(lookup_name, params.get("input") or {})
        required = params.get("required", True) is not False
        tried: list[dict[str, Any]] = []
        spent = Decimal("0")
        answer: dict[str, Any] | None = None
        answered_by: str | None = None
        for entry in entries:
            ctx.check_deadline()
            name = entry["provider"]
            record = {"provider": name, "credits": "0", "accepted": False}
            tried.append(record)
            try:
                provider = build_provider(name, ctx.settings, deadline=ctx.deadline)
            except StepError as exc:
                record["reason"] = exc.message
                _warn_skipped(ctx, name, exc.message)
                continue
            method = getattr(provider, lookup_name, None)
            if not callable(method):
                record["reason"] = f"{name} does not offer {lookup_name}"
                continue
            status = key_status(provider)
            if status is not None and not status["set"]:
                # Not called, not charged; said once in the run's warnings as well.
                record["reason"] = f"environment variable {status['name']} is not set"
                _warn_skipped(ctx, name, record["reason"])
                continue
            try:
                found = method(**arguments)
            except MissingApiKeyError as exc:
                record["reason"] = exc.message
                _warn_skipped(ctx, name, exc.message)
                continue
            except LeadProviderError as exc:
                # A refused (revoked) key would otherwise send every lookup to the next,
                # often pricier, provider without a word.
                record["reason"] = provider_failure(name, exc).message
                _warn_skipped(ctx, name, record["reason"])
                continue
            finally:
                requests = getattr(provider, "requests_made", 0)
                if requests:
                    record["requests"] = requests
            # It answered: it is paid for, whatever the answer.
            spent += entry["credits"]
            record["credits"] = str(entry["credits"])
            if not isinstance(found, dict):
                record["reason"] = "no answer"
                continue
            reason = rejection(found, entry["accept"])
            if reason is not None:
                record["reason"] = reason
                continue
            record["accepted"], record["reason"] = True, "accepted"
            answer, answered_by = {"source_provider": name, **found}, name
            break

        ctx.credits_used = spent
        ctx.meta["lookup"] = lookup_name
        ctx.meta["provider"] = answered_by
        ctx.meta["tried"] = [r["provider"] for r in tried]
        if answer is None and required:
            reasons = "; ".join(f"{r['provider']}: {r['reason']}" for r in tried)
            raise StepError(
                f"waterfall {lookup_name}: no provider gave an acceptable answer ({reasons})",
                credits_used=spent,
            )
        return {
            "found": answer is not None,
            "lookup": lookup_name,
            "provider": answered_by,
            "result": answer,
            "tried": tried,
        }

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        names: list[dict[str, Any]] = []
        for entry in params.get("providers") or []:
            if not isinstance(entry, dict):
                continue
            item: dict[str, Any] = {
                "provider": entry.get("provider"),
                "credits": str(entry.get("credits", DEFAULT_PROVIDER_CREDITS)),
            }
            try:
                status = key_status(build_provider(str(entry.get("provider")), ctx.settings))
            except StepError:
                status = None
            if status is not None:
                item["api_key_env"] = status
            names.append(item)
        joined = ",".join(str(n["provider"]) for n in names)
        return {"provider": f"leads:{joined}", "lookup": params.get("lookup"), "providers": names}
