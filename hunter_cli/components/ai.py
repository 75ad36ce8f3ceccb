"""`ai`: a prompt (and optional system prompt) rendered from templates, sent to the configured
AI provider; returns text, or JSON when `format: json`."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from hunter_cli.components.base import StepContext, StepError
from hunter_cli.providers.ai.base import ChatRequest, ChatResponse

OFFLINE_WARNING = (
    "AI steps ran on the offline provider (no AI provider configured): their outputs are "
    "rule-based drafts, not model-generated"
)


def _provider_name(params: dict[str, Any], ctx: StepContext) -> str:
    return params.get("provider") or ctx.settings.section("ai").get("provider") or "offline"


class AiStep:
    type: ClassVar[str] = "ai"
    # Rendered here, once per item when `items` is given.
    lazy_params: ClassVar[frozenset[str]] = frozenset({"prompt", "system", "input"})

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        from hunter_cli.providers.ai import get_provider

        name = _provider_name(params, ctx)
        try:
            provider = get_provider(name)
        except KeyError as exc:
            raise StepError(str(exc.args[0])) from None
        items = params.get("items")
        if items is None:
            return self._complete_one(provider, params, ctx, None)
        if not isinstance(items, list):
            raise StepError(f"items must be a list, not {type(items).__name__}")
        results = []
        for index, item in enumerate(items):
            ctx.check_deadline()
            one = self._complete_one(provider, params, ctx, {"item": item, "index": index})
            results.append({"item": item, **one})
        return results

    def _complete_one(
        self, provider, params: dict[str, Any], ctx: StepContext, extra: dict[str, Any] | None
    ) -> dict[str, Any]:
        prompt = ctx.render(params["prompt"], extra)
        system = ctx.render(params.get("system"), extra) if params.get("system") else None
        data = ctx.render(params.get("input"), extra) if "input" in params else None
        json_mode = params.get("format") == "json"
        messages = ([{"role": "system", "content": str(system)}] if system else []) + [
            {"role": "user", "content": str(prompt)}
        ]
        request = ChatRequest(
            messages=messages,
            model=params.get("model"),
            temperature=params.get("temperature"),
            max_tokens=params.get("max_tokens"),
            json_mode=json_mode,
            task=params.get("task"),
            input=data,
        )
        response: ChatResponse = provider.complete(request)
        self._account(ctx, response)
        parsed = None
        if json_mode:
            try:
                parsed = json.loads(response.text)
            except json.JSONDecodeError as exc:
                raise StepError(f"the model's answer is not valid JSON: {exc.msg}") from None
        return {
            "text": response.text,
            "data": parsed,
            "provider": response.provider,
            "model": response.model,
            "offline": response.offline,
            "usage": response.usage,
        }

    def _account(self, ctx: StepContext, response: ChatResponse) -> None:
        usage = ctx.meta.setdefault(
            "usage", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        )
        for key in usage:
            usage[key] += int(response.usage.get(key, 0))
        ctx.meta["provider"] = response.provider
        ctx.meta["model"] = response.model
        if response.offline:
            ctx.meta["offline"] = True
            if OFFLINE_WARNING not in ctx.warnings:
                ctx.warnings.append(OFFLINE_WARNING)

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        name = _provider_name(params, ctx)
        return {
            "provider": f"ai:{name}",
            "offline": name == "offline",
            "task": params.get("task"),
            "model": params.get("model"),
        }
