"""JSON Schemas for the parameters of the built-in step types, and the common step controls."""

from __future__ import annotations

from typing import Any

from hunter_cli.providers.ai import PROVIDERS as AI_PROVIDERS
from hunter_cli.providers.leads import PROVIDERS as LEAD_PROVIDERS

__all__ = [
    "CONTROL_KEYS",
    "DEFAULT_STEP_PARAMS",
    "CREDIT_STEP",
    "DECIMAL_PLACES",
    "DB_QUERY_PARAMS",
    "DB_WRITE_QUERIES",
    "DATA_OPERATIONS",
    "EXPRESSION_PARAMS",
    "MAX_BACKOFF",
    "MAX_CREDITS",
    "MAX_TIMEOUT",
    "PER_ITEM_PARAMS",
    "STEP_CONTROLS_SCHEMA",
    "PER_TOKEN_CREDITS",
    "TEMPLATE_PATTERN",
    "TOKEN_PRICED_KEY",
    "VARIANT_KEY",
    "split_step",
]

#: Schema keyword naming the parameter that selects a step type's variant (e.g. ``action``);
#: validation uses it to say "for action 'api_call'" in messages. Editors ignore it.
VARIANT_KEY = "x-hunter-variant"

#: Schema keyword marking a step type that may be priced per AI token (`credits:
#: {per_1k_tokens: ...}`); every other step type's credits are a fixed number.
TOKEN_PRICED_KEY = "x-hunter-token-priced"

#: The per-token form of `credits`, which a step type without TOKEN_PRICED_KEY refuses.
PER_TOKEN_CREDITS: dict[str, Any] = {"type": "object", "required": ["per_1k_tokens"]}

#: Pattern a string must match to count as a template where a literal is also allowed.
TEMPLATE_PATTERN = r"\{\{|\{%"

#: The most credits one amount in a recipe may be: the whole part of the largest balance the
#: ledger's NUMERIC(18, 4) columns hold (hunter_cli.ledger.MAX_CREDITS; a test keeps them equal).
MAX_CREDITS = 99_999_999_999_999
#: Credits are exact to 4 decimal places (the ledger's scale); a finer amount would be rounded.
CREDIT_STEP = 0.0001
#: hunter's own schema keyword: at most this many decimal places (see recipe/validate.py).
DECIMAL_PLACES = "x-hunter-decimal-places"
#: Most tokens an ai step may ask for: far above any model's window, and small enough that
#: a per-token hold (price x tokens) stays a number the ledger can compute.
MAX_TOKENS = 10_000_000
#: db_query queries that change data: a step running one must say `write: true` (the
#: component refuses it otherwise; a test keeps the two lists equal).
DB_WRITE_QUERIES = ("update_lead", "upsert_leads")
#: db_query queries -> the parameters each takes, and what it cannot do without (a name, or
#: a tuple of names one of which is needed). The component's QUERIES; a test keeps them equal.
DB_QUERY_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str | tuple[str, ...], ...]]] = {
    "find_leads": (
        (
            *("min_score", "tier", "ids", "emails", "domain", "limit", "order"),
            *("uncontacted_by", "skip_suppressed"),
        ),
        (),
    ),
    "get_lead": (("id", "email"), (("id", "email"),)),
    "upsert_leads": (("leads",), ("leads",)),
    "update_lead": (("id", "email", "fields"), (("id", "email"), "fields")),
}
#: data_processing operations -> the parameters each reads, and those it cannot do without
#: (the component's handlers; a test keeps the operations equal). Any other data_processing
#: parameter is refused: `count` on a sort would be ignored.
DATA_OPERATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dedupe": (("items", "keys", "fuzzy"), ("items",)),
    "filter": (("items", "where"), ("items", "where")),
    "sort": (("items", "by", "descending"), ("items", "by")),
    "limit": (("items", "count"), ("items", "count")),
    "pick": (("items", "fields"), ("items", "fields")),
    "merge": (("lists",), ("lists",)),
}
#: Longest step timeout, in seconds (a day).
MAX_TIMEOUT = 86_400
#: Longest wait between two attempts of a step, in seconds (an hour).
MAX_BACKOFF = 3_600


def _p(title: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"title": title, "description": description, **schema}


def _credits(
    title: str, description: str, *, positive: bool = False, places: int = 4
) -> dict[str, Any]:
    """A number of credits: at least 0 (above 0 if ``positive``), at most what the ledger
    holds, to 4 decimal places (a rate, which is multiplied before it is charged, to more)."""
    lower = {"exclusiveMinimum": 0} if positive else {"minimum": 0}
    return _p(
        title,
        f"{description} At most {MAX_CREDITS:,}, to {places} decimal places.",
        type="number",
        **lower,
        maximum=MAX_CREDITS,
        # Not multipleOf: JSON Schema validators divide floats (0.15 / 0.0001 is not whole
        # in binary), so editors refused ordinary prices. hunter checks this keyword itself.
        **{DECIMAL_PLACES: places},
    )


def _provider(title: str, description: str, known: dict[str, str]) -> dict[str, Any]:
    """A provider's name, one of the registered ``known`` (whether or not hunter.toml sets it
    up: that is checked when a run starts), or a template choosing one."""
    return _p(
        title,
        description,
        anyOf=[{"enum": sorted(known)}, {"type": "string", "pattern": TEMPLATE_PATTERN}],
    )


def _template(title: str, description: str) -> dict[str, Any]:
    return _p(title, description + " Jinja2 template; rendered natively.", type="string")


# The most items a count may ask for: far beyond a batch (10,000 leads), short of a typo's
# 99999999999999999999 that would overflow the database's integers.
MAX_COUNT = 1_000_000


def _int_or_template(title: str, description: str, minimum: int) -> dict[str, Any]:
    return _p(
        title,
        description,
        anyOf=[
            {"type": "integer", "minimum": minimum, "maximum": MAX_COUNT},
            {"type": "string", "pattern": TEMPLATE_PATTERN},
        ],
    )


def _items(description: str) -> dict[str, Any]:
    return _p(
        "Items",
        description + " A template such as '{{ steps.search.output.leads }}' or a literal list.",
        anyOf=[{"type": "string", "pattern": TEMPLATE_PATTERN}, {"type": "array"}],
    )


# --- common controls -----------------------------------------------------------------------

_RETRY = _p(
    "Retry",
    "How often to retry the step on failure: a number of attempts, or attempts with backoff.",
    anyOf=[
        {
            "title": "Attempts",
            "description": "Total number of attempts (1 means no retry; at most 100).",
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
        },
        {
            "title": "Retry policy",
            "description": "Attempts with exponential backoff between them.",
            "type": "object",
            "properties": {
                "attempts": _p(
                    "Attempts",
                    "Total number of attempts (1 means no retry; at most 100).",
                    type="integer",
                    minimum=1,
                    maximum=100,
                ),
                "backoff": _p(
                    "Backoff",
                    "Seconds to wait before the first retry; doubles on each further retry. "
                    f"At most {MAX_BACKOFF} (an hour).",
                    type="number",
                    minimum=0,
                    maximum=MAX_BACKOFF,
                ),
                "max_backoff": _p(
                    "Maximum backoff",
                    "Upper bound in seconds for the wait between attempts (default 30). At "
                    f"most {MAX_BACKOFF} (an hour).",
                    type="number",
                    minimum=0,
                    maximum=MAX_BACKOFF,
                ),
            },
            "required": ["attempts"],
            "additionalProperties": False,
        },
    ],
)

_CREDITS = _p(
    "Credits",
    "Credits this step costs: a fixed number per run, or for an ai step a price per 1,000 "
    "tokens, {per_1k_tokens: 0.5} (held at max_tokens' worth per call).",
    anyOf=[
        _credits("Fixed cost", "Credits charged per run."),
        {
            "title": "Per token",
            "description": "Credits per 1,000 tokens the step uses (ai steps only).",
            "type": "object",
            "required": ["per_1k_tokens"],
            "properties": {
                "per_1k_tokens": _credits(
                    "Per 1,000 tokens",
                    "Credits per 1,000 tokens (what a step is charged is rounded to 0.0001).",
                    places=8,
                )
            },
            "additionalProperties": False,
        },
    ],
)

#: Schema for the keys every step may carry, whatever its type (``id`` and ``type`` are
#: required by the step union in the recipe schema, so a missing one is reported once).
STEP_CONTROLS_SCHEMA: dict[str, Any] = {
    "title": "Step controls",
    "description": "Keys every step accepts regardless of its type.",
    "type": "object",
    "properties": {
        "id": _p(
            "Step id",
            "Unique id of the step; later templates read its result as steps.<id>.output.",
            type="string",
            pattern="^[a-z_][a-z0-9_]*$",
        ),
        "type": _p(
            "Step type",
            "Which kind of step this is; selects the parameters it accepts.",
            type="string",
        ),
        "if": _p(
            "Condition",
            "Run the step only when this is true: a bare expression (inputs.limit > 5) or one "
            "template around all of it ('{{ inputs.limit > 5 }}'), never text mixed with a "
            "template. A boolean is accepted as a constant.",
            type=["string", "boolean"],
        ),
        "timeout": _p(
            "Timeout",
            f"Seconds each attempt of the step may take before it is cancelled (with retry, "
            f"every attempt gets this long); at most {MAX_TIMEOUT} (a day).",
            type="number",
            exclusiveMinimum=0,
            maximum=MAX_TIMEOUT,
        ),
        "retry": _RETRY,
        "on_error": _p(
            "On error",
            "What a failure of this step does to the run: fail it (default) or continue.",
            enum=["fail", "continue"],
            default="fail",
        ),
        "credits": _CREDITS,
        "output_schema": _p(
            "Output schema",
            "JSON Schema (draft 2020-12) the step's output must satisfy.",
            **{"$ref": "https://json-schema.org/draft/2020-12/schema"},
        ),
        "description": _p(
            "Description", "What this step is for; shown in listings and logs.", type="string"
        ),
    },
}

#: Keys that are step controls rather than type-specific parameters.
CONTROL_KEYS: frozenset[str] = frozenset(STEP_CONTROLS_SCHEMA["properties"])

#: Parameters whose string value is an expression (like ``if``) rather than a template,
#: per step type.
EXPRESSION_PARAMS: dict[str, frozenset[str]] = {"action": frozenset({"where"})}


#: Parameters a step renders once per element of its `items`, so that their templates see
#: `item` and `index`; every other template of the step is rendered once, without them. Per
#: built-in step type (the components' lazy_params: a test keeps them equal); a step type not
#: listed here (a plugin's) is not checked.
PER_ITEM_PARAMS: dict[str, frozenset[str]] = {
    "ai": frozenset({"prompt", "system", "input"}),
    "action": frozenset({"where", "rules"}),
    "correspondence": frozenset({"to", "subject", "body", "html", "url", "topic", "payload"}),
    "state": frozenset(),
    "audit": frozenset(),
    "subscription": frozenset(),
}


def split_step(step: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a step mapping into ``(controls, params)``."""
    controls = {k: v for k, v in step.items() if k in CONTROL_KEYS}
    params = {k: v for k, v in step.items() if k not in CONTROL_KEYS}
    return controls, params


# --- ai --------------------------------------------------------------------------------------

_AI: dict[str, Any] = {
    "title": "AI step",
    "description": "Ask a language model (or the offline provider) to generate text or JSON. "
    "Identical requests are answered from the workspace's response cache (--no-cache skips it).",
    "type": "object",
    TOKEN_PRICED_KEY: True,
    "properties": {
        "prompt": _template("Prompt", "The user prompt."),
        "system": _template("System prompt", "Instructions given to the model before the prompt."),
        "provider": _provider(
            "AI provider",
            "AI provider: groq, openai (any OpenAI-compatible server) or offline. Default: "
            "hunter.toml [ai] provider, else groq when GROQ_API_KEY is set, else offline.",
            AI_PROVIDERS,
        ),
        "model": _p(
            "Model",
            "Model name at the provider; default: hunter.toml [ai] model (for groq, "
            "openai/gpt-oss-120b).",
            type="string",
        ),
        "temperature": _p(
            "Temperature",
            "Sampling temperature; 0 is most deterministic.",
            type="number",
            minimum=0,
            maximum=2,
        ),
        "max_tokens": _p(
            "Maximum tokens",
            "Upper bound on tokens generated (reasoning models spend some of it thinking). "
            "Per-token pricing holds this many tokens' worth of credits. At most "
            f"{MAX_TOKENS:,}.",
            type="integer",
            minimum=1,
            maximum=MAX_TOKENS,
        ),
        "task": _p(
            "Task",
            "What the prompt is for; the offline provider uses it to produce a canned answer.",
            enum=["expand_query", "summarize_company", "write_subject", "write_email", "generate"],
        ),
        "input": _p(
            "Input data",
            "The data the prompt is about (a template, e.g. a lead or a query). The offline "
            "provider works from it; real providers see the rendered prompt.",
        ),
        "items": _items(
            "Ask once per element; prompt, system and input can use `item` and "
            "`index`. The output is then a list of {item, text, data}."
        ),
        "format": _p(
            "Format",
            "Whether the answer is free text or JSON. With json the model is asked for a JSON "
            "object, the answer is parsed into `data`, and an answer that is not valid JSON (or "
            "does not match data_schema) is sent back to the model once before the step fails.",
            enum=["text", "json"],
            default="text",
        ),
        "data_schema": _p(
            "Data schema",
            "JSON Schema (draft 2020-12) the parsed answer (`data`) must satisfy, checked "
            "inside the step so a mismatch can be put to the model once more. With format: "
            "json only.",
            **{"$ref": "https://json-schema.org/draft/2020-12/schema"},
        ),
    },
    "required": ["prompt"],
    "additionalProperties": False,
}

# --- action ----------------------------------------------------------------------------------

_AUTH = _p(
    "Authentication",
    "api_call: how to authenticate; the secret is read from an environment variable, never "
    "the recipe. A query parameter is added to those already in the URL.",
    type="object",
    properties={
        "type": _p(
            "Auth type",
            "bearer token, basic auth (user:password), a header or a query parameter.",
            enum=["bearer", "basic", "header", "query"],
        ),
        "env": _p(
            "Environment variable",
            "Name of the environment variable holding the secret.",
            type="string",
            pattern="^[A-Z_][A-Z0-9_]*$",
        ),
        "name": _p(
            "Name", "Header or query parameter name (for header and query auth).", type="string"
        ),
    },
    required=["type", "env"],
    additionalProperties=False,
    allOf=[
        {
            "if": {"properties": {"type": {"enum": ["header", "query"]}}, "required": ["type"]},
            "then": {"required": ["name"]},
        }
    ],
)

_SCORING_RULE = _p(
    "Scoring rule",
    "Award points when a field of the item satisfies a comparison.",
    type="object",
    properties={
        "field": _p("Field", "Dotted path of the field to test, e.g. company.size.", type="string"),
        "op": _p(
            "Operator",
            "Comparison to apply.",
            enum=["in", "not_in", "between", "gte", "lte", "eq", "contains", "matches"],
        ),
        "value": _p(
            "Value",
            "Value to compare with: a list for in/not_in, [low, high] for "
            "between, a regular expression for matches.",
        ),
        "points": _p(
            "Points",
            "Points added when the rule matches (may be negative; -100 to 100: a score is 0-100).",
            type="number",
            minimum=-100,
            maximum=100,
        ),
        "reason": _p("Reason", "Explanation recorded with the score.", type="string"),
    },
    required=["field", "op", "points"],
    additionalProperties=False,
    allOf=[
        {
            "if": {"properties": {"op": {"const": "between"}}, "required": ["op"]},
            "then": {
                "properties": {"value": {"type": "array", "minItems": 2, "maxItems": 2}},
                "required": ["value"],
            },
        },
        {
            "if": {"properties": {"op": {"enum": ["in", "not_in"]}}, "required": ["op"]},
            "then": {"properties": {"value": {"type": "array"}}, "required": ["value"]},
        },
        {
            "if": {"properties": {"op": {"const": "matches"}}, "required": ["op"]},
            "then": {
                "properties": {"value": {"type": "string", "format": "regex"}},
                "required": ["value"],
            },
        },
    ],
)

# waterfall: one check of a provider's answer (a field and exactly one comparison).
_WATERFALL_ACCEPT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "field": _p("Field", "Dotted path in the answer, e.g. verification.status.", type="string"),
        "in": _p("In", "The field must be one of these values.", type="array"),
        "equals": _p("Equals", "The field must be this value."),
        "min": _p("Minimum", "The field must be a number at least this.", type="number"),
        "max": _p("Maximum", "The field must be a number at most this.", type="number"),
        "exists": _p("Exists", "true: the field must have a value.", type="boolean"),
    },
    "required": ["field"],
    "minProperties": 2,
    "maxProperties": 2,
    "additionalProperties": False,
}

# Every parameter any action accepts, with its description. Where two actions share a name
# with different meanings (query, items), the per-action branch below narrows the type.
_ACTION_PARAMS: dict[str, dict[str, Any]] = {
    "action": _p(
        "Action",
        "Which built-in action to run.",
        enum=["lead_search", "waterfall", "api_call", "db_query", "data_processing", "scoring"],
    ),
    # lead_search
    "provider": {
        **_provider(
            "Lead provider",
            "lead_search: lead source to query: local (the bundled sample dataset, the "
            "default), csv (your own file), hunter_io (one company by domain) or apollo. "
            "Settings and the API key's variable come from hunter.toml [providers.NAME].",
            LEAD_PROVIDERS,
        ),
        "default": "local",
    },
    "query": _p(
        "Query",
        "lead_search: free-text search (template); for hunter_io a domain such as stripe.com. "
        "db_query: named query to run. api_call: query parameters, name -> value (templates "
        "rendered; a null value is left out), added to those already in the URL.",
    ),
    "keywords": _p(
        "Keywords",
        "lead_search: keywords, as a template or a list of strings (apollo: role words such as "
        "founder or vp sales become job titles, the rest search keywords).",
        anyOf=[{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    ),
    "filters": _p(
        "Filters",
        "lead_search: provider filters. local and csv: industry, country, city, size_min, "
        "size_max, technologies, domain, title. hunter_io: domain, company, type, seniority, "
        "department. apollo: the local ones plus titles, seniorities, location(s), "
        "organization_locations, domains, email_status.",
        type="object",
    ),
    "limit": _int_or_template(
        "Limit",
        "lead_search: maximum number of leads (default 25; an API provider gives at most "
        "1,000, and a warning says so).",
        1,
    ),
    "path": _p(
        "CSV file",
        "lead_search with provider csv: the CSV file of leads or companies to search, "
        "relative to the workspace (default: hunter.toml [providers.csv] path).",
        type="string",
    ),
    # waterfall
    "lookup": _p(
        "Lookup",
        "waterfall: what to look up: find_email (input first_name, last_name, domain), "
        "verify_email (input email) or enrich_company (input domain).",
        enum=["find_email", "verify_email", "enrich_company"],
    ),
    "input": _p(
        "Input",
        "waterfall: the lookup's input (templates rendered), e.g. {first_name, last_name, "
        "domain} for find_email.",
        anyOf=[{"type": "object"}, {"type": "string", "pattern": TEMPLATE_PATTERN}],
    ),
    "providers": _p(
        "Providers",
        "waterfall: the providers to ask, in order, until one gives an acceptable answer. Each "
        "has its own price (charged only if it is asked and answers) and accept check; the run "
        "holds the sum of the prices.",
        type="array",
        minItems=1,
        items={
            "type": "object",
            "properties": {
                "provider": _provider(
                    "Lead provider",
                    "Lead provider: hunter_io, apollo, local or csv.",
                    LEAD_PROVIDERS,
                ),
                "credits": _credits("Credits", "Price of asking this provider (default 0.01)."),
                "accept": _p(
                    "Accept",
                    "What counts as an answer: {field, in|equals|min|max|exists} (or a list, "
                    "all of which must hold) on the provider's answer. Default for find_email "
                    "and verify_email: {field: verification.status, in: [valid, deliverable]}; "
                    "for enrich_company: {field: company, exists: true}.",
                    anyOf=[
                        _WATERFALL_ACCEPT,
                        {"type": "array", "items": _WATERFALL_ACCEPT, "minItems": 1},
                    ],
                ),
            },
            "required": ["provider"],
            "additionalProperties": False,
        },
    ),
    "required": _p(
        "Required",
        "waterfall: fail the step when no provider gives an acceptable answer (default); "
        "false returns found: false instead.",
        type="boolean",
        default=True,
    ),
    # api_call
    "method": _p(
        "HTTP method",
        "api_call: request method.",
        enum=["GET", "POST", "PUT", "PATCH", "DELETE"],
        default="GET",
    ),
    "url": _template("URL", "api_call: request URL."),
    "headers": _p(
        "Headers",
        "api_call: request headers.",
        type="object",
        additionalProperties={"type": "string"},
    ),
    "json": _p("JSON body", "api_call: request body, sent as JSON."),
    "auth": _AUTH,
    "extract": _p(
        "Extract",
        "api_call: output fields taken from the JSON response, name -> dotted path (data.items).",
        type="object",
        additionalProperties={"type": "string"},
    ),
    # db_query
    "params": _p(
        "Parameters",
        "db_query: parameters of the named query. find_leads: min_score, tier, ids, emails, "
        "domain, limit, order, uncontacted_by (an e-mail step of this recipe: leave out leads "
        "it already wrote to, so a re-run spends nothing on them), skip_suppressed (true: "
        "leave out suppressed addresses); get_lead: id or email; upsert_leads: leads; "
        "update_lead: id or email, and fields.",
        type="object",
    ),
    "write": _p(
        "Write",
        "db_query: set true to allow a query that modifies data (required by "
        + " and ".join(DB_WRITE_QUERIES)
        + ").",
        type="boolean",
        default=False,
    ),
    # data_processing
    "operation": _p(
        "Operation",
        "data_processing: what to do with the items.",
        enum=list(DATA_OPERATIONS),
    ),
    "items": _items("data_processing/scoring: the list to work on."),
    "keys": _p(
        "Keys",
        "data_processing dedupe: fields that identify duplicates.",
        type="array",
        items={"type": "string"},
        minItems=1,
    ),
    "fuzzy": _p(
        "Fuzzy matching",
        "data_processing dedupe: also treat items as duplicates when a field is similar "
        "enough, unless both have the keys and they differ (two emails are two people).",
        type="object",
        properties={
            "field": _p("Field", "Field compared fuzzily.", type="string"),
            "threshold": _p(
                "Threshold",
                "Similarity (0-100, rapidfuzz token_sort_ratio) at or above which items match.",
                type="number",
                minimum=0,
                maximum=100,
                default=90,
            ),
        },
        required=["field"],
        additionalProperties=False,
    ),
    "where": _p(
        "Where",
        "data_processing filter: an expression evaluated per item (item.score > 50), or a "
        "mapping of field -> required value.",
        anyOf=[{"type": "string"}, {"type": "object"}],
    ),
    "by": _p(
        "Sort by",
        "data_processing sort: field or fields to sort on.",
        anyOf=[{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
    ),
    "descending": _p(
        "Descending", "data_processing sort: largest first.", type="boolean", default=False
    ),
    "count": _int_or_template("Count", "data_processing limit: how many items to keep.", 0),
    "fields": _p(
        "Fields",
        "data_processing pick: fields to keep on each item.",
        type="array",
        items={"type": "string"},
        minItems=1,
    ),
    "lists": _p(
        "Lists",
        "data_processing merge: lists (or templates yielding lists) to join.",
        type="array",
        minItems=1,
    ),
    # scoring
    "rules": _p(
        "Rules",
        "scoring: rules applied to every item.",
        type="array",
        items=_SCORING_RULE,
        minItems=1,
    ),
    "tiers": _p(
        "Tiers",
        "scoring: minimum score for each tier, A >= B >= C; items below C get no tier.",
        type="object",
        default={"A": 80, "B": 60, "C": 40},
        properties={
            t: _p(
                f"Tier {t}",
                f"Minimum score for tier {t} (0-100).",
                type="number",
                minimum=0,
                maximum=100,
            )
            for t in ("A", "B", "C")
        },
        additionalProperties=False,
    ),
}

# Which parameters each action accepts, with narrower schemas where a name is shared.
_ACTION_VARIANTS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "lead_search": (
        {
            "provider": {},
            "query": {"type": "string"},
            "keywords": {},
            "filters": {},
            "limit": {},
            "path": {},
        },
        [],
    ),
    "waterfall": (
        # The price is per provider: a step-level `credits` would be ambiguous.
        {"lookup": {}, "input": {}, "providers": {}, "required": {}, "credits": {"not": {}}},
        ["lookup", "input", "providers"],
    ),
    "api_call": (
        {
            "method": {},
            "url": {},
            "headers": {},
            "query": {"type": "object"},
            "json": {},
            "auth": {},
            "extract": {},
        },
        ["url"],
    ),
    "db_query": (
        {
            "query": {"enum": list(DB_QUERY_PARAMS)},
            # Which names params may have depends on the query (see _db_query_params).
            "params": {"type": "object"},
            "write": {},
        },
        ["query"],
    ),
    "data_processing": (
        {
            "operation": {},
            "items": {},
            "keys": {},
            "fuzzy": {},
            "where": {},
            "by": {},
            "descending": {},
            "count": {},
            "fields": {},
            "lists": {},
        },
        ["operation"],
    ),
    "scoring": ({"items": {}, "rules": {}, "tiers": {}}, ["items", "rules"]),
}


def _db_query_params() -> list[dict[str, Any]]:
    """One if/then per db_query query: the names its params may have, and the ones it needs."""
    branches = []
    for query, (accepted, needed) in DB_QUERY_PARAMS.items():
        params: dict[str, Any] = {"propertyNames": {"enum": list(accepted)}}
        alone = [name for name in needed if isinstance(name, str)]
        if alone:
            params["required"] = alone
        choices = [name for name in needed if isinstance(name, tuple)]
        if choices:
            params["allOf"] = [
                {"anyOf": [{"required": [name]} for name in choice]} for choice in choices
            ]
        then: dict[str, Any] = {"properties": {"params": params}}
        if needed:
            then["required"] = ["params"]
        branches.append(
            {
                "if": {"properties": {"query": {"const": query}}, "required": ["query"]},
                "then": then,
            }
        )
    return branches


def _action_branches() -> list[dict[str, Any]]:
    branches: list[dict[str, Any]] = []
    every = [name for name in _ACTION_PARAMS if name != "action"]
    for action, (accepted, required) in _ACTION_VARIANTS.items():
        # A parameter of another action is rejected outright, so url on a lead_search step
        # is an error rather than silently ignored. {"not": {}} rather than `false` because
        # jsonschema drops the instance path from errors of a `false` subschema.
        properties: dict[str, Any] = {name: {"not": {}} for name in every if name not in accepted}
        properties.update({name: schema for name, schema in accepted.items() if schema})
        then: dict[str, Any] = {"properties": properties}
        if required:
            then["required"] = required
        if action == "db_query":
            then["allOf"] = [
                {
                    "if": {
                        "properties": {"query": {"enum": list(DB_WRITE_QUERIES)}},
                        "required": ["query"],
                    },
                    "then": {"properties": {"write": {"const": True}}, "required": ["write"]},
                },
                *_db_query_params(),
            ]
        if action == "data_processing":
            # As for actions: a parameter of another operation is refused, not ignored.
            then["allOf"] = [
                {
                    "if": {"properties": {"operation": {"const": op}}, "required": ["operation"]},
                    "then": {
                        "properties": {
                            name: {"not": {}}
                            for name in accepted
                            if name not in takes and name != "operation"
                        },
                        "required": list(needs),
                    },
                }
                for op, (takes, needs) in DATA_OPERATIONS.items()
            ]
        branches.append(
            {
                "if": {"properties": {"action": {"const": action}}, "required": ["action"]},
                "then": then,
            }
        )
    return branches


_ACTION: dict[str, Any] = {
    "title": "Action step",
    "description": "Run a built-in action: search leads, call an API, query the database, "
    "process or score a list.",
    "type": "object",
    VARIANT_KEY: "action",
    "properties": _ACTION_PARAMS,
    "required": ["action"],
    "additionalProperties": False,
    "allOf": _action_branches(),
}

# --- correspondence --------------------------------------------------------------------------

# Per channel: the parameters it accepts, the one naming the recipient (required) and the
# content it needs at least one of (the component's REQUIRED: a test keeps them equal).
# Whether what they render to is empty is checked per message when the step runs.
_CORRESPONDENCE_CHANNELS: dict[str, tuple[set[str], str, tuple[str, ...]]] = {
    "email": (
        {"to", "subject", "body", "html", "payload", "once_per_recipient"},
        "to",
        ("subject", "body"),
    ),
    "sms": ({"to", "body", "payload", "once_per_recipient"}, "to", ("body",)),
    "webhook": ({"url", "topic", "payload", "body"}, "url", ("payload", "body")),
    "push": (
        {"topic", "subject", "body", "url", "payload", "priority", "tags"},
        "topic",
        ("body",),
    ),
}
_CORRESPONDENCE_OPTIONAL = {"to", "subject", "body", "html", "url", "topic", "payload"} | {
    "priority",
    "tags",
    "once_per_recipient",
}


def _correspondence_branches() -> list[dict[str, Any]]:
    """One if/then per channel: parameters of other channels are refused, its recipient
    and content required."""
    branches = []
    for channel, (accepted, recipient, content) in _CORRESPONDENCE_CHANNELS.items():
        then: dict[str, Any] = {
            "properties": {
                name: {"not": {}} for name in sorted(_CORRESPONDENCE_OPTIONAL - accepted)
            },
            "required": [recipient, *content] if len(content) == 1 else [recipient],
        }
        if len(content) > 1:
            then["anyOf"] = [{"required": [name]} for name in content]
        branches.append(
            {
                "if": {"properties": {"channel": {"const": channel}}, "required": ["channel"]},
                "then": then,
            }
        )
    return branches


_CORRESPONDENCE: dict[str, Any] = {
    "title": "Correspondence step",
    "description": "Send a message by e-mail, SMS, webhook or push; one per item when items "
    "is given (templates then also see item and index). Every message is recorded in the "
    "outbox exactly once per run, step and recipient; recipients on the customer's "
    "suppression list are skipped. Messages stay queued (`hunter outbox list`) unless the "
    "run has --send or the customer has `send = true` in hunter.toml: then they are "
    "delivered (SMTP, Twilio, signed webhooks, ntfy; see [channels] in hunter.toml), within "
    "the customer's daily caps.",
    "type": "object",
    VARIANT_KEY: "channel",
    "properties": {
        "channel": _p(
            "Channel",
            "How to deliver the message: email (to, subject/body), sms (to, body), webhook "
            "(url, payload/body) or push (topic, body).",
            enum=["email", "sms", "webhook", "push"],
        ),
        "to": _p(
            "Recipient",
            "email: address; sms: phone number in E.164 (+4930123456). A template, or a list "
            "of them; an invalid or suppressed recipient skips that message only.",
            anyOf=[{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        ),
        "subject": _template("Subject", "E-mail subject or push title."),
        "body": _template("Body", "Plain-text message body."),
        "html": _template("HTML body", "HTML alternative of the e-mail body."),
        "url": _template("URL", "Webhook endpoint (http/https) or link opened by a push."),
        "topic": _template("Topic", "Push topic (the recipient) or webhook event name."),
        "payload": _p(
            "Payload",
            "Structured data sent with the message (the JSON body of a webhook, sent as "
            "written and signed per Standard Webhooks); templates inside are rendered.",
        ),
        "priority": _p(
            "Priority",
            "push: notification priority, 1-5 or min, low, default, high, max, urgent "
            "(default: [channels.push] priority).",
            anyOf=[
                {"type": "integer", "minimum": 1, "maximum": 5},
                {"enum": ["min", "low", "default", "high", "max", "urgent"]},
                {"type": "string", "pattern": TEMPLATE_PATTERN},
            ],
        ),
        "tags": _p(
            "Tags",
            "push: tags (ntfy shows known ones as emojis), a list or comma-separated text "
            "(default: [channels.push] tags).",
            anyOf=[{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        ),
        "items": _items("Send one message per element of this list."),
        "once_per_recipient": _p(
            "Once per recipient",
            "email and sms: skip a recipient who already has a message from this step of this "
            "recipe for this customer, queued or sent by any earlier run (default true), so "
            "running a recipe again does not write to the same people again. false sends "
            "again; a follow-up is better written as a step of its own.",
            type="boolean",
        ),
    },
    "required": ["channel"],
    "additionalProperties": False,
    "allOf": _correspondence_branches(),
}

# --- state -----------------------------------------------------------------------------------

_STATE: dict[str, Any] = {
    "title": "State step",
    "description": "Change the run's state, which later templates read as state.<key>.",
    "type": "object",
    "properties": {
        "set": _p("Set", "Keys to set (replacing any previous value).", type="object"),
        "append": _p(
            "Append", "Keys whose list gets these values appended (a list extends).", type="object"
        ),
        "merge": _p("Merge", "Keys whose mapping gets these keys merged in.", type="object"),
    },
    "anyOf": [{"required": ["set"]}, {"required": ["append"]}, {"required": ["merge"]}],
    "additionalProperties": False,
}

# --- audit -----------------------------------------------------------------------------------

_AUDIT: dict[str, Any] = {
    "title": "Audit step",
    "description": "Write an entry to the tamper-evident audit log.",
    "type": "object",
    "properties": {
        "action": _p(
            "Audit action",
            "Dotted event name, e.g. leads.exported; stored as recipe.<action> "
            "(recipe.leads.exported) so a recipe's entries cannot pass for hunter's own: "
            "`hunter audit list --action 'recipe.*'` lists them.",
            type="string",
            pattern="^[a-z0-9_.]+$",
        ),
        "details": _p(
            "Details",
            "Structured details stored with the entry (templates rendered).",
            type="object",
        ),
    },
    "required": ["action"],
    "additionalProperties": False,
}

# --- subscription ----------------------------------------------------------------------------

_SUBSCRIPTION: dict[str, Any] = {
    "title": "Subscription step",
    "description": "Check the customer's credit balance or charge credits.",
    "type": "object",
    "properties": {
        "operation": _p(
            "Operation",
            "check_balance fails the step when the balance is below "
            "minimum; charge deducts amount.",
            enum=["check_balance", "charge"],
        ),
        "amount": _credits("Amount", "Credits to charge.", positive=True),
        "reason": _p(
            "Reason",
            "Why the credits are charged; in the step's output and the audit trail "
            "(credits.charge). The amount comes on top of the step's own price (credits, "
            "0.01 unless set), and is held with the run and captured with it.",
            type="string",
        ),
        "minimum": _credits("Minimum", "Balance required by check_balance."),
    },
    "required": ["operation"],
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"operation": {"const": "charge"}}, "required": ["operation"]},
            "then": {"required": ["amount"]},
        }
    ],
}

#: Parameter schemas of the built-in step types, keyed by step type name.
DEFAULT_STEP_PARAMS: dict[str, dict[str, Any]] = {
    "ai": _AI,
    "action": _ACTION,
    "correspondence": _CORRESPONDENCE,
    "state": _STATE,
    "audit": _AUDIT,
    "subscription": _SUBSCRIPTION,
}
