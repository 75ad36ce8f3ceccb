"""`ai`: a prompt (and optional system prompt) rendered from templates, sent to the AI
provider hunter.toml or the step names; returns text, or checked JSON when `format: json`.

The step does the database work the providers may not: it answers repeated requests from the
response cache, records prompts and answers (secrets scrubbed) and sums token usage, which
per-token pricing charges. `preflight` lets the runner refuse a run whose AI provider cannot
work (a key missing) before it reserves any credits."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from hunter_cli.components.base import StepContext, StepError, TransientStepError
from hunter_cli.errors import ConfigError
from hunter_cli.providers.ai.base import (
    AiProviderError,
    ChatRequest,
    ChatResponse,
    InvalidJsonAnswer,
    ProviderOptions,
    TransientAiProviderError,
)
from hunter_cli.providers.ai.config import (
    check_ai_section,
    readiness_problems,
    resolve_options,
    resolve_provider_name,
)

if TYPE_CHECKING:
    from hunter_cli.config import Settings
    from hunter_cli.providers.ai.base import AiProvider

OFFLINE_WARNING = (
    "AI steps ran on the offline provider (no AI provider configured): their outputs are "
    "rule-based drafts, not model-generated"
)
OFFLINE_CHOSEN_WARNING = (
    "AI steps ran on the offline provider (as configured): their outputs are rule-based "
    "drafts, not model-generated"
)
# Said when a JSON step's prompts never mention JSON: OpenAI-style JSON mode refuses those.
JSON_INSTRUCTION = "Answer with a single JSON object and nothing else."
REPAIR_PROMPT = (
    "Your answer {problem}. Answer again with only a JSON object that fixes this, and nothing else."
)
REDACTED = "[REDACTED]"
PROBLEM_LIMIT = 300
_TEMPLATE = re.compile(r"\{\{|\{%")


class AiTransientError(TransientStepError):
    """The provider stayed busy or unreachable through our own retries; `retry_after` lets the
    step's `retry` control (if any) wait as long as the server asked."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Setup:
    name: str
    explicit: bool
    options: ProviderOptions


def _resolve(
    step_provider: Any, step_model: Any, settings: Settings, environ: Mapping[str, str]
) -> _Setup:
    """The provider and options a step uses; ConfigError for a malformed [ai] section."""
    ai = settings.section("ai")
    check_ai_section(ai)
    name, explicit = resolve_provider_name(
        str(step_provider) if step_provider else None, ai, environ
    )
    options = resolve_options(name, ai, environ, model=str(step_model) if step_model else None)
    return _Setup(name, explicit, options)


# --- pre-flight ---------------------------------------------------------------------------------


def preflight(
    steps: list[dict[str, Any]], settings: Settings, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Why this run's AI steps cannot work, one line each (empty when they can): a real
    provider configured without its key, an unknown provider, a model missing. A provider
    given as a template is decided when the step runs."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    for step in steps:
        if step.get("type") != "ai":
            continue
        provider, model = step.get("provider"), step.get("model")
        if any(isinstance(v, str) and _TEMPLATE.search(v) for v in (provider, model)):
            continue
        try:
            setup = _resolve(provider, model, settings, env)
        except ConfigError as exc:
            found = [exc.message]
        else:
            found = readiness_problems(setup.options)
        problems.extend(p for p in found if p not in problems)
    return problems


def require_ai_ready(steps: list[dict[str, Any]], settings: Settings) -> None:
    """Raise ConfigError (exit 2) when preflight finds a problem: called by the runner before
    it creates the execution or reserves credits, so a run that cannot work costs nothing."""
    problems = preflight(steps, settings)
    if problems:
        raise ConfigError("; ".join(problems))


# --- the step -----------------------------------------------------------------------------------


def _scrubber(secret: str | None) -> Callable[[str], str]:
    if not secret:
        return lambda text: text
    from hunter_cli.scrub import SecretScrubber

    scrubber = SecretScrubber([secret])
    return lambda text: scrubber.text(text) if isinstance(text, str) else text


def _scrub_messages(
    messages: list[dict[str, str]], scrub: Callable[[str], str]
) -> list[dict[str, str]]:
    from hunter_cli.audit import redact

    return redact([{k: scrub(v) for k, v in m.items()} for m in messages])


def _mentions_json(*texts: Any) -> bool:
    return any(isinstance(t, str) and "json" in t.lower() for t in texts)


def _data_schema(params: dict[str, Any], ctx: StepContext, per_item: bool) -> dict | None:
    """What `data` must satisfy: the step's `data_schema`, else the `data` part of its
    output_schema (when the runner hands the step its controls as ctx.output_schema)."""
    if isinstance(params.get("data_schema"), dict):
        return params["data_schema"]
    schema = getattr(ctx, "output_schema", None)
    if per_item and isinstance(schema, dict):
        schema = schema.get("items")
    if isinstance(schema, dict):
        data = (schema.get("properties") or {}).get("data")
        if isinstance(data, dict):
            return data
    return None


def _strip_fences(text: str) -> str:
    """Models sometimes wrap JSON in a Markdown code fence even when asked not to."""
    stripped = text.strip()
    match = re.fullmatch(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```", stripped, re.DOTALL)
    return match.group(1).strip() if match else stripped


def check_json_answer(text: str, schema: dict | None) -> tuple[Any, str | None]:
    """(parsed, None), or (None, what is wrong) in words the model can act on."""
    try:
        parsed = json.loads(_strip_fences(text))
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if schema:
        from jsonschema import Draft202012Validator

        errors = sorted(Draft202012Validator(schema).iter_errors(parsed), key=lambda e: e.path)
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
            detail = first.message
            if len(detail) > PROBLEM_LIMIT:
                detail = detail[:PROBLEM_LIMIT] + "..."
            return None, f"does not match the expected schema at {where}: {detail}"
    return parsed, None


@dataclass
class _Answer:
    output: dict[str, Any]
    messages: list[dict[str, str]]
    response: str
    cached: bool


def _store_kept(key: str, stored: dict[str, Any], session: Any) -> None:
    from hunter_cli.ai_cache import store_answer

    store_answer(session, key, **stored)


class AiStep:
    type: ClassVar[str] = "ai"
    # Rendered here, once per item when `items` is given.
    lazy_params: ClassVar[frozenset[str]] = frozenset({"prompt", "system", "input"})
    # One call per element of `items`: a per-token price is held per element.
    per_item_calls: ClassVar[str] = "items"

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        from hunter_cli.providers.ai import get_provider

        try:
            setup = _resolve(params.get("provider"), params.get("model"), ctx.settings, os.environ)
        except ConfigError as exc:
            raise StepError(exc.message) from None
        problems = readiness_problems(setup.options)
        if problems:
            raise StepError(problems[0])
        if setup.name == "offline":
            warning = OFFLINE_CHOSEN_WARNING if setup.explicit else OFFLINE_WARNING
            if warning not in ctx.warnings:
                ctx.warnings.append(warning)
        scrub = _scrubber(setup.options.api_key)
        try:
            provider = get_provider(setup.name, setup.options)
        except (KeyError, AiProviderError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) else exc.message
            raise StepError(scrub(str(message))) from None
        try:
            items = params.get("items")
            if items is None:
                schema = _data_schema(params, ctx, per_item=False)
                answer = self._complete_one(provider, setup, params, ctx, None, schema, scrub)
                ctx.meta["messages"] = answer.messages
                ctx.meta["response"] = answer.response
                ctx.meta["cached"] = answer.cached
                return answer.output
            if not isinstance(items, list):
                raise StepError(f"items must be a list, not {type(items).__name__}")
            from hunter_cli.recipe.templates import TemplateError

            schema = _data_schema(params, ctx, per_item=True)
            results, answers = [], []
            for index, item in enumerate(items):
                ctx.check_deadline()
                ctx.report(index, len(items))
                try:
                    answer = self._complete_one(
                        provider, setup, params, ctx, {"item": item, "index": index}, schema, scrub
                    )
                except TemplateError as exc:  # which item, of hundreds, lacks the field
                    raise StepError(f"items[{index}]: {exc.message}") from None
                except StepError as exc:
                    if isinstance(exc, TransientStepError):
                        raise
                    ctx.meta["failed_item"] = index
                    raise StepError(
                        f"items[{index}]: {exc.message}", credits_used=exc.credits_used
                    ) from None
                answers.append(answer)
                results.append({"item": item, **answer.output})
            ctx.report(len(items), len(items))
            ctx.meta["messages"] = [a.messages for a in answers]
            ctx.meta["response"] = [a.response for a in answers]
            ctx.meta["cached"] = bool(answers) and all(a.cached for a in answers)
            ctx.meta["cache_hits"] = sum(a.cached for a in answers)
            return results
        finally:
            provider.close()

    def _complete_one(
        self,
        provider: AiProvider,
        setup: _Setup,
        params: dict[str, Any],
        ctx: StepContext,
        extra: dict[str, Any] | None,
        schema: dict | None,
        scrub: Callable[[str], str],
    ) -> _Answer:
        from hunter_cli.ai_cache import cache_key, lookup_answer, store_answer

        prompt = ctx.render(params["prompt"], extra)
        system = ctx.render(params.get("system"), extra) if params.get("system") else None
        data = ctx.render(params.get("input"), extra) if "input" in params else None
        json_mode = params.get("format") == "json"
        real = setup.name != "offline"
        if json_mode and real and not _mentions_json(system, prompt):
            system = f"{system}\n\n{JSON_INSTRUCTION}" if system else JSON_INSTRUCTION
        messages = ([{"role": "system", "content": str(system)}] if system else []) + [
            {"role": "user", "content": str(prompt)}
        ]
        request = ChatRequest(
            messages=messages,
            model=setup.options.model if real else params.get("model"),
            temperature=params.get("temperature"),
            max_tokens=params.get("max_tokens"),
            json_mode=json_mode,
            task=params.get("task"),
            input=data,
        )

        key = None
        if real and setup.options.cache:
            key = cache_key(
                provider=setup.name,
                model=request.model,
                base_url=setup.options.base_url,
                messages=messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                json_mode=json_mode,
            )
            if not ctx.no_cache:
                hit = lookup_answer(ctx.session, key)
                if hit is not None:
                    parsed, problem = (
                        check_json_answer(hit.text, schema) if json_mode else (None, None)
                    )
                    if problem is None:  # an answer the schema no longer accepts is asked anew
                        ctx.meta["provider"], ctx.meta["model"] = setup.name, hit.model
                        ctx.meta.setdefault("usage", _zero_usage())
                        return _Answer(
                            self._output(hit.text, parsed, setup.name, hit.model, False, {}, True),
                            _scrub_messages(messages, scrub),
                            scrub(hit.text),
                            cached=True,
                        )

        response, parsed, conversation, usage = self._ask(
            provider, request, ctx, schema, scrub, json_mode
        )
        text = response.text
        if key is not None:
            stored: dict[str, Any] = {
                "provider": setup.name,
                "model": response.model[:200],
                "request": {
                    "messages": _scrub_messages(messages, scrub),
                    "temperature": request.temperature,
                    "max_tokens": request.max_tokens,
                    "json_mode": json_mode,
                },
                "text": text,
                "usage": usage,
            }
            store_answer(ctx.session, key, **stored)
            # A later item failing rolls this back with the step: keep the paid-for answer.
            ctx.keep_on_failure.append(partial(_store_kept, key, stored))
        return _Answer(
            self._output(text, parsed, response.provider, response.model, response.offline, usage),
            _scrub_messages(conversation, scrub),
            text,
            cached=False,
        )

    def _ask(
        self,
        provider: AiProvider,
        request: ChatRequest,
        ctx: StepContext,
        schema: dict | None,
        scrub: Callable[[str], str],
        json_mode: bool,
    ) -> tuple[ChatResponse, Any, list[dict[str, str]], dict[str, int]]:
        """Ask; for JSON, check the answer and, if it is wrong, ask once more with what was
        wrong added to the conversation. Returns (response, parsed, conversation, usage)."""
        usage = _zero_usage()
        result = self._call(provider, request, ctx, scrub, usage)
        if not json_mode:
            if isinstance(result, InvalidJsonAnswer):
                raise StepError(scrub(result.message))
            return result, None, request.messages, usage
        problem: str | None
        if isinstance(result, InvalidJsonAnswer):
            bad_text, problem = result.text, "is not valid JSON"
        else:
            parsed, problem = check_json_answer(result.text, schema)
            if problem is None:
                return result, parsed, request.messages, usage
            if result.offline:
                # Rules, not a model: asking again gives the same answer.
                raise StepError(
                    scrub(
                        f"the offline provider's answer {problem}: its rules found nothing to "
                        "work with in this input (a configured AI provider may do better)"
                    )
                )
            bad_text = result.text
        conversation = [
            *request.messages,
            {"role": "assistant", "content": bad_text or "(no answer)"},
            {"role": "user", "content": REPAIR_PROMPT.format(problem=problem)},
        ]
        ctx.meta["repaired"] = ctx.meta.get("repaired", 0) + 1
        second = self._call(provider, replace(request, messages=conversation), ctx, scrub, usage)
        if isinstance(second, InvalidJsonAnswer):
            problem = "is not valid JSON"
        else:
            parsed, problem = check_json_answer(second.text, schema)
            if problem is None:
                return second, parsed, conversation, usage
        # Kept on the failed step's record: what was asked and what came back is what the
        # author needs to fix the prompt or the schema.
        ctx.meta["messages"] = _scrub_messages(conversation, scrub)
        ctx.meta["response"] = second.text
        raise StepError(scrub(f"the model's answer {problem} (asked twice)"))

    def _call(
        self,
        provider: AiProvider,
        request: ChatRequest,
        ctx: StepContext,
        scrub: Callable[[str], str],
        usage: dict[str, int],
    ) -> ChatResponse | InvalidJsonAnswer:
        try:
            response = provider.complete(request, deadline=ctx.deadline)
        except InvalidJsonAnswer as exc:
            exc.text = scrub(exc.text)
            return exc
        except TransientAiProviderError as exc:
            if exc.exhausted:  # retried as often as max_retries allows: not again by the step
                raise StepError(
                    scrub(exc.message) + "; not retried by the step ([ai] max_retries sets how "
                    "often a request is tried)"
                ) from None
            raise AiTransientError(scrub(exc.message), retry_after=exc.retry_after) from None
        except AiProviderError as exc:
            raise StepError(scrub(exc.message)) from None
        self._account(ctx, response, usage)
        # Scrubbed before anything reads it: a key echoed back must not reach `data` either.
        response = replace(response, text=scrub(response.text))
        if not response.text.strip() and response.finish_reason == "length":
            raise StepError(
                f"the model used all of max_tokens ({request.max_tokens}) before answering: "
                "raise max_tokens on the step (reasoning models think first, out of the same "
                'budget; [ai] reasoning_effort = "low" shortens that)'
            )
        return response

    @staticmethod
    def _output(
        text: str,
        parsed: Any,
        provider: str,
        model: str,
        offline: bool,
        usage: dict[str, int],
        cached: bool = False,
    ) -> dict[str, Any]:
        return {
            "text": text,
            "data": parsed,
            "provider": provider,
            "model": model,
            "offline": offline,
            "usage": usage or _zero_usage(),
            "cached": cached,
        }

    def _account(self, ctx: StepContext, response: ChatResponse, usage: dict[str, int]) -> None:
        """Add this call's tokens to the step's (what per-token pricing charges)."""
        total = ctx.meta.setdefault("usage", _zero_usage())
        for key in total:
            count = int(response.usage.get(key, 0) or 0)
            total[key] += count
            usage[key] += count
        ctx.meta["provider"] = response.provider
        ctx.meta["model"] = response.model
        if response.offline:
            ctx.meta["offline"] = True

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        chosen = params.get("provider")
        if isinstance(chosen, str) and _TEMPLATE.search(chosen):
            return {"provider": "ai:(decided when the step runs)", "offline": False}
        try:
            setup = _resolve(params.get("provider"), params.get("model"), ctx.settings, os.environ)
        except ConfigError as exc:
            return {"provider": "ai:?", "offline": False, "problem": exc.message}
        entry: dict[str, Any] = {
            "provider": f"ai:{setup.name}",
            "offline": setup.name == "offline",
            "task": params.get("task"),
            "model": setup.options.model if setup.name != "offline" else params.get("model"),
        }
        if setup.options.api_key_env:
            entry["api_key_env"] = {
                "name": setup.options.api_key_env,
                "set": bool(setup.options.api_key),
            }
        problems = readiness_problems(setup.options)
        if problems:
            entry["problem"] = problems[0]
        prompt = _planned_prompt(params, ctx)
        if prompt is not None:
            entry["prompt"] = prompt
        return entry


#: How much of a rendered prompt a plan shows.
PLAN_PROMPT_CHARS = 200


def _planned_prompt(params: dict[str, Any], ctx: StepContext) -> str | None:
    """The prompt as --plan shows it: rendered where the inputs decide it (for the first
    item when there are items), else as written; cut to PLAN_PROMPT_CHARS."""
    from hunter_cli.recipe.templates import TemplateError

    prompt = params.get("prompt")
    if not isinstance(prompt, str):
        return None
    items = params.get("items")
    extra = {"item": items[0], "index": 0} if isinstance(items, list) and items else None
    try:
        text = str(ctx.render(prompt, extra))
    except TemplateError:
        text = prompt  # it reads what only the run makes
    text = " ".join(text.split())
    return text if len(text) <= PLAN_PROMPT_CHARS else text[: PLAN_PROMPT_CHARS - 1] + "…"


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
