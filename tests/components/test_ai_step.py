"""The `ai` step through the real runner (and the CLI) on SQLite and PostgreSQL, with the
real `groq` SDK talking to a fake Groq server on 127.0.0.1: usage and per-token credits,
retries, JSON checking with one repair, the response cache, provider choice, offline, and
the key kept out of every record."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml
from sqlalchemy import func, select

from hunter_cli import ledger
from hunter_cli.audit import verify_chain
from hunter_cli.components.ai import OFFLINE_WARNING, AiStep
from hunter_cli.components.base import StepContext, StepError
from hunter_cli.config import Settings
from hunter_cli.customers import resolve_customer
from hunter_cli.db.models import AiResponseCache, Base, CreditTransaction, Execution
from hunter_cli.engine.runner import Runner, RunOptions
from hunter_cli.errors import InsufficientCreditsError
from hunter_cli.recipe import load_and_validate
from hunter_cli.recipe.templates import evaluate_expression, render_value
from tests.ai_server import (
    GROQ_PATH,
    OPENAI_PATH,
    Completion,
    FakeChatServer,
    error_reply,
    json_validate_failed,
    rate_limited,
    server_error,
)
from tests.servers import LoopbackServer, Reply

KEY = "gsk_step_test_5ecr3t_value"
KEYWORDS_SCHEMA = {
    "type": "object",
    "required": ["keywords"],
    "properties": {"keywords": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
}


@pytest.fixture
def fake(monkeypatch) -> Iterator[FakeChatServer]:
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    with LoopbackServer() as http:
        yield FakeChatServer(http, api_key=KEY)


def groq_ai(fake: FakeChatServer, **extra) -> dict:
    return {"provider": "groq", "base_url": fake.url, "retry_backoff": 0, **extra}


def settings_for(db, ai: dict | None) -> Settings:
    sections = MappingProxyType({"ai": ai} if ai is not None else {})
    return Settings(None, None, db.url, "acme", "tester", sections)


def run_steps(
    db, tmp_path: Path, ai: dict | None, steps: list[dict], customer: str = "acme", **options
):
    recipe = {
        "slug": "ai-test",
        "name": "AI test",
        "version": 1,
        "description": "ai steps",
        "inputs": {"type": "object", "properties": {}},
        "steps": steps,
    }
    path = tmp_path / "ai-test.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    runner = Runner(db, settings_for(db, ai))
    return runner.run(load_and_validate(str(path)), customer, {}, RunOptions(**options))


def ai_step(**params) -> dict:
    return {"id": "ask", "type": "ai", "prompt": "Name three SaaS buyer roles.", **params}


def available(db) -> Decimal:
    with db.session() as session:
        customer = resolve_customer(session, "acme")
        return ledger.active_subscription(session, customer).credits_available


def dump_database(db) -> str:
    """Every row of every table, as text: what a leaked key would be found in."""
    rows = []
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            rows.extend(repr(tuple(row)) for row in session.execute(select(table)))
    return "\n".join(rows)


def cache_rows(db) -> list[AiResponseCache]:
    with db.session() as session:
        rows = session.scalars(select(AiResponseCache).order_by(AiResponseCache.created_at))
        return [
            AiResponseCache(
                cache_key=r.cache_key,
                provider=r.provider,
                model=r.model,
                request=r.request,
                response_text=r.response_text,
                usage=r.usage,
                hits=r.hits,
            )
            for r in rows
        ]


# --- success, usage and credits ------------------------------------------------------------


def test_success_records_usage_and_charges_per_token_exactly(seeded, tmp_path, fake):
    fake.then(Completion("CEO, VP Sales, Head of Growth", prompt_tokens=100, completion_tokens=50))
    before = available(seeded)
    result = run_steps(
        seeded,
        tmp_path,
        groq_ai(fake),
        [ai_step(system="Be brief.", max_tokens=1000, credits={"per_1k_tokens": 2})],
    )
    assert result.status == "success", result.error
    assert result.credits_reserved == Decimal("2.0000")  # the hold: max_tokens' worth
    [step] = result.steps
    assert step.credits == Decimal("0.3000")  # 150 tokens at 2 credits per 1000
    assert result.credits_used == Decimal("0.3000")
    assert before - available(seeded) == Decimal("0.3000")
    assert step.output == {
        "text": "CEO, VP Sales, Head of Growth",
        "data": None,
        "provider": "groq",
        "model": "openai/gpt-oss-120b",
        "offline": False,
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        "cached": False,
    }
    assert step.meta["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "total_tokens": 150,
    }
    assert step.meta["provider"] == "groq" and step.meta["cached"] is False
    assert step.meta["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name three SaaS buyer roles."},
    ]
    assert step.meta["response"] == "CEO, VP Sales, Head of Growth"
    assert not result.warnings
    [request] = fake.requests
    assert request.path == GROQ_PATH
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json()["model"] == "openai/gpt-oss-120b"
    assert request.json()["max_completion_tokens"] == 1000
    with seeded.session() as session:
        capture = session.scalars(
            select(CreditTransaction).where(
                CreditTransaction.execution_id == result.execution_id,
                CreditTransaction.kind == "capture",
            )
        ).one()
        assert capture.amount in (Decimal("0.3000"), Decimal("-0.3000"))


def test_model_per_step_and_from_hunter_toml(seeded, tmp_path, fake):
    run_steps(
        seeded,
        tmp_path,
        groq_ai(fake, model="openai/gpt-oss-20b"),
        [ai_step(), ai_step(id="other", model="llama-3.1-8b-instant")],
    )
    assert [b["model"] for b in fake.bodies] == ["openai/gpt-oss-20b", "llama-3.1-8b-instant"]


# --- retries and errors ---------------------------------------------------------------------


def test_429_then_200_is_retried_inside_the_step(seeded, tmp_path, fake):
    fake.then(rate_limited(retry_after="0"), "ok")
    result = run_steps(seeded, tmp_path, groq_ai(fake), [ai_step()])
    assert result.status == "success", result.error
    assert result.steps[0].attempts == 1 and result.steps[0].output["text"] == "ok"
    assert len(fake.requests) == 2


def test_a_request_is_retried_at_one_level_only(seeded, tmp_path, fake):
    """[ai] max_retries are all the tries a request gets: once they are used up the step's
    `retry` does not repeat them (it made 2 x 3 requests of a persistent 5xx)."""
    fake.then(server_error(500), server_error(502), "back")
    result = run_steps(
        seeded,
        tmp_path,
        groq_ai(fake, max_retries=1),
        [ai_step(retry={"attempts": 3, "backoff": 0})],
    )
    assert result.status == "failed"
    step = result.steps[0]
    assert step.attempts == 1 and len(fake.requests) == 2
    assert step.error == (
        "groq server error (HTTP 502): Internal Server Error (2 attempts); not retried by the "
        "step ([ai] max_retries sets how often a request is tried)"
    )


def test_a_wait_beyond_max_retry_wait_is_left_to_the_step_retry(seeded, tmp_path, fake):
    """The provider stopped early (the server asked for a longer wait than it may make): the
    step's `retry` takes over, and waits as asked."""
    fake.then(rate_limited(retry_after="0.3"), "back")
    started = time.monotonic()
    result = run_steps(
        seeded,
        tmp_path,
        groq_ai(fake, max_retry_wait=0.1),
        [ai_step(retry={"attempts": 2, "backoff": 0})],
    )
    assert result.status == "success", result.error
    assert result.steps[0].attempts == 2 and len(fake.requests) == 2
    assert time.monotonic() - started >= 0.3


def test_a_429_saying_the_quota_is_used_up_is_not_retried(seeded, tmp_path, fake):
    fake.then(
        error_reply(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            code="insufficient_quota",
        ),
        "never",
    )
    result = run_steps(
        seeded, tmp_path, groq_ai(fake), [ai_step(retry={"attempts": 3, "backoff": 0})]
    )
    assert result.status == "failed"
    step = result.steps[0]
    assert step.attempts == 1 and len(fake.requests) == 1
    assert step.error.startswith("groq: the account's quota is used up (HTTP 429): You exceeded")


def test_transient_failure_message(seeded, tmp_path, fake):
    fake.then(*[server_error(503)] * 3)
    result = run_steps(seeded, tmp_path, groq_ai(fake, max_retries=2), [ai_step()])
    assert result.status == "failed"
    assert result.steps[0].error == (
        "groq server error (HTTP 503): Internal Server Error (3 attempts); not retried by the "
        "step ([ai] max_retries sets how often a request is tried)"
    )
    assert result.credits_used == Decimal("0.0000")


def test_the_step_timeout_bounds_the_request(seeded, tmp_path, fake):
    fake.then(Reply(json={}, delay=3))
    started = time.monotonic()
    result = run_steps(seeded, tmp_path, groq_ai(fake), [ai_step(timeout=0.5)])
    assert time.monotonic() - started < 2
    assert result.status == "failed"
    assert "0.5 s" in result.steps[0].error  # the request's timeout or the step's, whichever won


def test_401_is_not_retried_and_names_the_variable(seeded, tmp_path, fake):
    fake.api_key = "gsk_the_right_one"
    result = run_steps(
        seeded, tmp_path, groq_ai(fake), [ai_step(retry={"attempts": 3, "backoff": 0})]
    )
    assert result.status == "failed"
    step = result.steps[0]
    assert step.attempts == 1 and len(fake.requests) == 1
    assert step.error == "groq rejected the API key in GROQ_API_KEY (HTTP 401): Invalid API Key"
    assert step.credits == Decimal("0.0000")


def test_missing_key_fails_the_step_and_plan_says_so(plain_ctx, fake, monkeypatch):
    """The runner's pre-flight stops such a run before it starts; were a step to run anyway,
    it fails with the same line before calling anyone."""
    monkeypatch.delenv("GROQ_API_KEY")
    ctx = plain_ctx(groq_ai(fake))
    plan = AiStep().plan({"prompt": "x"}, ctx)
    assert plan["api_key_env"] == {"name": "GROQ_API_KEY", "set": False}
    assert "GROQ_API_KEY is not set" in plan["problem"]
    with pytest.raises(StepError, match="the environment variable GROQ_API_KEY is not set"):
        AiStep().run({"prompt": "x"}, ctx)
    assert fake.requests == []


# --- JSON: checked, and put to the model once more ------------------------------------------


def test_json_mismatch_is_put_to_the_model_once_more(seeded, tmp_path, fake):
    fake.then(
        Completion('{"kw": ["saas"]}', prompt_tokens=10, completion_tokens=4),
        Completion('{"keywords": ["saas", "software"]}', prompt_tokens=30, completion_tokens=6),
    )
    result = run_steps(
        seeded,
        tmp_path,
        groq_ai(fake),
        [ai_step(format="json", data_schema=KEYWORDS_SCHEMA)],
    )
    assert result.status == "success", result.error
    step = result.steps[0]
    assert step.output["data"] == {"keywords": ["saas", "software"]}
    assert step.meta["usage"]["total_tokens"] == 50  # both calls were paid for
    assert step.meta["repaired"] == 1
    first, second = fake.bodies
    assert first["response_format"] == {"type": "json_object"}
    # The prompt never said JSON, so the step did (OpenAI-style JSON mode insists).
    assert "JSON object" in first["messages"][0]["content"]
    assert second["messages"][-2] == {"role": "assistant", "content": '{"kw": ["saas"]}'}
    assert second["messages"][-1]["role"] == "user"
    assert (
        "does not match the expected schema at (top level): 'keywords' is a required property"
        in second["messages"][-1]["content"]
    )
    assert step.meta["messages"] == second["messages"]


def test_malformed_json_twice_fails_the_step(seeded, tmp_path, fake):
    fake.then("Sure! Here are keywords: saas, crm", '{"keywords": []}')
    result = run_steps(
        seeded, tmp_path, groq_ai(fake), [ai_step(format="json", data_schema=KEYWORDS_SCHEMA)]
    )
    assert result.status == "failed"
    error = result.steps[0].error
    assert error.startswith("the model's answer does not match the expected schema at keywords: ")
    assert error.endswith("(asked twice)")
    assert "is not valid JSON" in fake.bodies[1]["messages"][-1]["content"]
    assert len(fake.requests) == 2
    assert cache_rows(seeded) == []  # a rejected answer is never cached
    # Regression: the failed step kept nothing (meta {}); what was asked and answered is
    # what the author needs to fix the prompt or the schema.
    step = result.steps[0]
    assert step.meta["messages"] == fake.bodies[1]["messages"]
    assert step.meta["response"] == '{"keywords": []}'
    assert step.meta["repaired"] == 1


def test_a_step_priced_per_token_is_charged_the_answers_it_rejected(seeded, tmp_path, fake):
    """Two real answers were paid for even though neither passed: a step priced per token
    is charged their tokens (never more than it held); one with a fixed price is not."""
    answers = [
        Completion("no json here", prompt_tokens=300, completion_tokens=200),
        Completion('{"keywords": []}', prompt_tokens=400, completion_tokens=100),
    ]
    fake.then(*answers)
    priced = ai_step(
        format="json", data_schema=KEYWORDS_SCHEMA, max_tokens=1000, credits={"per_1k_tokens": 1}
    )
    result = run_steps(seeded, tmp_path, groq_ai(fake), [priced])
    step = result.steps[0]
    assert step.status == "failed"
    assert step.meta["usage"]["total_tokens"] == 1000
    assert str(step.credits) == "1.0000"  # 1,000 tokens at 1 credit per 1k
    assert result.credits_used == step.credits

    fake.then(*answers)
    fixed = ai_step(format="json", data_schema=KEYWORDS_SCHEMA)
    result = run_steps(seeded, tmp_path, groq_ai(fake), [fixed])
    assert result.steps[0].status == "failed" and result.steps[0].credits == 0


def test_groq_json_validate_failed_is_repaired(seeded, tmp_path, fake):
    fake.then(json_validate_failed('{"keywords": ["saas",'), '{"keywords": ["saas"]}')
    result = run_steps(seeded, tmp_path, groq_ai(fake), [ai_step(format="json")])
    assert result.status == "success", result.error
    assert result.steps[0].output["data"] == {"keywords": ["saas"]}
    assert fake.bodies[1]["messages"][-2]["content"] == '{"keywords": ["saas",'


def test_fenced_json_is_accepted(seeded, tmp_path, fake):
    fake.then('```json\n{"keywords": ["saas"]}\n```')
    result = run_steps(
        seeded, tmp_path, groq_ai(fake), [ai_step(format="json", data_schema=KEYWORDS_SCHEMA)]
    )
    assert result.steps[0].output["data"] == {"keywords": ["saas"]}
    assert len(fake.requests) == 1


def test_output_schema_data_part_is_checked_when_the_runner_hands_it_over(plain_ctx, fake):
    """Once the runner passes a step's output_schema as ctx.output_schema, its `data` part is
    checked inside the step (so the model is asked once more) rather than after it."""
    fake.then('{"keywords": []}', '{"keywords": ["saas"]}')
    ctx = plain_ctx(groq_ai(fake, cache=False))
    ctx.output_schema = {  # type: ignore[attr-defined]
        "type": "object",
        "required": ["data"],
        "properties": {"data": KEYWORDS_SCHEMA},
    }
    output = AiStep().run({"prompt": "Keywords as JSON", "format": "json"}, ctx)
    assert output["data"] == {"keywords": ["saas"]} and len(fake.requests) == 2


# --- the response cache ----------------------------------------------------------------------


def test_second_identical_run_is_answered_from_the_cache(seeded, tmp_path, fake):
    fake.then(Completion("first answer", prompt_tokens=80, completion_tokens=20))
    steps = [
        ai_step(max_tokens=1000, credits={"per_1k_tokens": 1}),
        ai_step(id="fixed", prompt="Another question", credits=0.05),
    ]
    first = run_steps(seeded, tmp_path, groq_ai(fake), steps)
    assert [s.credits for s in first.steps] == [Decimal("0.1000"), Decimal("0.0500")]
    second = run_steps(seeded, tmp_path, groq_ai(fake), steps)
    assert second.status == "success", second.error
    assert len(fake.requests) == 2  # the second run asked the server nothing
    cached, fixed = second.steps
    assert cached.output["text"] == "first answer" and cached.output["cached"] is True
    assert cached.meta["cached"] is True
    assert cached.meta["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    # No tokens used, so per-token pricing charges nothing; a fixed price is the step's price.
    assert cached.credits == Decimal("0.0000") and fixed.credits == Decimal("0.0500")
    rows = cache_rows(seeded)
    assert len(rows) == 2 and {r.hits for r in rows} == {1}
    assert rows[0].usage == {"prompt_tokens": 80, "completion_tokens": 20, "total_tokens": 100}


def test_a_different_parameter_is_a_different_request(seeded, tmp_path, fake):
    run_steps(seeded, tmp_path, groq_ai(fake), [ai_step(temperature=0)])
    run_steps(seeded, tmp_path, groq_ai(fake), [ai_step(temperature=1)])
    run_steps(seeded, tmp_path, groq_ai(fake), [ai_step(temperature=1, model="openai/gpt-oss-20b")])
    assert len(fake.requests) == 3


def test_no_cache_bypasses_reading_but_still_writes(seeded, tmp_path, fake):
    fake.then("old answer", "new answer")
    run_steps(seeded, tmp_path, groq_ai(fake), [ai_step()])
    fresh = run_steps(seeded, tmp_path, groq_ai(fake), [ai_step()], no_cache=True)
    assert fresh.steps[0].output["text"] == "new answer" and fresh.steps[0].meta["cached"] is False
    assert len(fake.requests) == 2
    again = run_steps(seeded, tmp_path, groq_ai(fake), [ai_step()])
    assert again.steps[0].output["text"] == "new answer"  # the refreshed answer was kept
    assert len(fake.requests) == 2
    assert len(cache_rows(seeded)) == 1


def test_cache_can_be_switched_off(seeded, tmp_path, fake):
    for _ in range(2):
        run_steps(seeded, tmp_path, groq_ai(fake, cache=False), [ai_step()])
    assert len(fake.requests) == 2 and cache_rows(seeded) == []


def test_items_ask_once_each_and_hit_the_cache_each(seeded, tmp_path, fake):
    step = ai_step(items=["Acme", "Globex", "Initech"], prompt="Subject for {{ item }}")
    first = run_steps(seeded, tmp_path, groq_ai(fake), [step])
    assert len(fake.requests) == 3
    output = first.steps[0].output
    assert [o["item"] for o in output] == ["Acme", "Globex", "Initech"]
    assert first.steps[0].meta["response"] == [o["text"] for o in output]
    assert [m[-1]["content"] for m in first.steps[0].meta["messages"]] == [
        "Subject for Acme",
        "Subject for Globex",
        "Subject for Initech",
    ]
    second = run_steps(seeded, tmp_path, groq_ai(fake), [step])
    assert len(fake.requests) == 3
    assert second.steps[0].meta["cache_hits"] == 3 and second.steps[0].meta["cached"] is True


def test_answers_received_before_a_later_item_fails_are_kept_for_the_next_try(
    seeded, tmp_path, fake
):
    """The step fails on its third item and rolls back; the two answers already paid for are
    kept in the cache, so the next run asks only for the third."""
    step = ai_step(items=["Acme", "Globex", "Initech"], prompt="Subject for {{ item }}")
    fake.then("one", "two", *[server_error(503)] * 2)
    failed = run_steps(seeded, tmp_path, groq_ai(fake, max_retries=1), [step])
    assert failed.status == "failed" and len(fake.requests) == 4
    assert sorted(r.response_text for r in cache_rows(seeded)) == ["one", "two"]

    again = run_steps(seeded, tmp_path, groq_ai(fake), [step])
    assert again.status == "success" and len(fake.requests) == 5  # only Initech asked
    assert [o["text"] for o in again.steps[0].output][:2] == ["one", "two"]


def test_a_per_item_template_error_names_the_item(seeded, tmp_path, fake):
    """Regression: "'n' is undefined" did not say which of the items lacked the field."""
    step = ai_step(items=[{"n": {"x": 1}}, {"n": {"x": 2}}, {"m": 3}], prompt="Hi {{ item.n.x }}")
    result = run_steps(seeded, tmp_path, groq_ai(fake), [step])
    assert result.status == "failed"
    assert result.steps[0].error.startswith("items[2]: ")
    assert "'n' is undefined" in result.steps[0].error


# --- which provider -------------------------------------------------------------------------


def test_no_provider_and_no_key_runs_offline_with_a_warning(seeded, tmp_path, fake, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY")
    result = run_steps(seeded, tmp_path, None, [ai_step(task="expand_query", input="saas")])
    assert result.status == "success"
    assert result.steps[0].meta["offline"] is True
    assert result.steps[0].output["provider"] == "offline"
    assert OFFLINE_WARNING in result.warnings
    assert fake.requests == [] and cache_rows(seeded) == []  # offline answers are not cached


def test_a_key_present_without_a_provider_means_groq(seeded, tmp_path, fake):
    result = run_steps(seeded, tmp_path, {"base_url": fake.url}, [ai_step()])
    assert result.steps[0].output["provider"] == "groq"
    assert len(fake.requests) == 1 and not result.warnings


def test_a_step_may_pick_another_provider(seeded, tmp_path, fake):
    ai = groq_ai(fake, openai={"base_url": fake.openai_base_url, "model": "llama3.2"})
    fake.api_key = None  # a local server with no key
    result = run_steps(
        seeded,
        tmp_path,
        ai,
        [ai_step(provider="openai"), ai_step(id="local", provider="offline", task="generate")],
    )
    assert result.status == "success", result.error
    assert [s.output["provider"] for s in result.steps] == ["openai", "offline"]
    [request] = fake.requests
    assert request.path == OPENAI_PATH and request.json()["model"] == "llama3.2"
    assert "authorization" not in request.headers


# --- secrets ------------------------------------------------------------------------------


def test_the_key_never_reaches_the_database(seeded, tmp_path, fake):
    echo = f"I was called with Bearer {KEY}"
    fake.then(
        echo,
        error_reply(400, f"bad request; you sent Authorization: Bearer {KEY}"),
        json.dumps({"seen": f"Bearer {KEY}"}),
    )
    result = run_steps(
        seeded,
        tmp_path,
        groq_ai(fake),
        [
            ai_step(),
            ai_step(id="fails", prompt="Second", on_error="continue"),
            ai_step(id="data", prompt="Third, as JSON", format="json"),
        ],
    )
    assert result.status == "partial"
    assert result.steps[0].output["text"] == "I was called with Bearer [REDACTED]"
    assert result.steps[2].output["data"] == {"seen": "Bearer [REDACTED]"}
    assert result.steps[1].error.endswith("Authorization: Bearer [REDACTED]")
    assert KEY not in json.dumps(result.to_dict())
    everything = dump_database(seeded)
    assert "I was called with Bearer [REDACTED]" in everything  # the dump does see the rows
    assert KEY not in everything


@pytest.fixture
def plain_ctx(seeded) -> Iterator[Callable[[dict], StepContext]]:
    """Step contexts for calling the component directly, each with a session of its own."""
    with contextlib.ExitStack() as stack:

        def make(ai: dict) -> StepContext:
            return StepContext(
                session=stack.enter_context(seeded.sessions()),
                settings=settings_for(seeded, ai),
                customer_id=uuid.uuid4(),
                execution_id=uuid.uuid4(),
                step_id="ask",
                actor="tester",
                template_context={"inputs": {}, "steps": {}, "state": {}},
                render_fn=render_value,
                evaluate_fn=evaluate_expression,
            )

        yield make


# --- through the CLI -------------------------------------------------------------------------


def write_toml(workspace: Path, ai: str) -> None:
    (workspace / "hunter.toml").write_text(
        f'[workspace]\ndefault_customer = "acme"\n\n[ai]\n{ai}\n'
    )


def test_missing_key_stops_the_run_before_charging(workspace, cli, monkeypatch):
    """Needs the runner's pre-flight hook (components.ai.require_ai_ready)."""
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    write_toml(workspace, 'provider = "groq"')
    assert cli("seed").exit_code == 0
    before = cli("credits", "show", "--json").ok()
    error = cli("run", "discovery", "--query", "SaaS founders", "--json").error(2)
    assert "GROQ_API_KEY" in error["message"] and "not set" in error["message"]
    line = cli("run", "discovery", "--query", "SaaS founders").one_line(2)
    assert "GROQ_API_KEY" in line
    assert cli("executions", "list", "--json").ok() == []
    assert cli("credits", "show", "--json").ok() == before


def test_bundled_recipes_end_to_end_on_groq(workspace, cli, monkeypatch, db):
    with LoopbackServer() as http:
        fake = FakeChatServer(http, api_key=KEY)
        monkeypatch.setenv("GROQ_API_KEY", KEY)
        write_toml(workspace, f'provider = "groq"\nbase_url = "{fake.url}"\nretry_backoff = 0')
        assert cli("seed").exit_code == 0
        outputs = []

        def run(*args: str) -> dict:
            result = cli("run", *args, "--json")
            outputs.append(result.stdout + result.stderr)
            data = result.ok()
            assert data["status"] == "success", data
            assert not data["warnings"]  # nothing ran offline
            for step in data["steps"]:
                if step["type"] == "ai" and step["status"] == "ok":
                    assert step["meta"]["provider"] == "groq" and "offline" not in step["meta"]
            return data

        discovery = run("discovery", "--query", "SaaS founders", "--limit", "5")
        keywords = discovery["steps"][0]["output"]["data"]["keywords"]
        assert "saas" in keywords and "founder" in keywords
        assert discovery["outputs"]["new_leads"] == 5
        domain = discovery["outputs"]["leads"][0]["domain"]

        intelligence = run("intelligence", "--domain", domain)
        assert domain in intelligence["outputs"]["analysis"]

        tiers = {lead["tier"] for lead in cli("leads", "list", "--json").ok()} - {None}
        tier = "A" if "A" in tiers else sorted(tiers)[0]
        outreach = run("outreach", "--tier", tier, "--limit", "2")
        assert outreach["outputs"]["queued"] >= 1
        message = cli("outbox", "show", cli("outbox", "list", "--json").ok()[0]["id"], "--json")
        assert message.ok()["subject"].startswith("A faster pipeline for ")
        assert message.ok()["body"].startswith("Hi ")

        asked = len(fake.requests)
        assert asked >= 4
        assert {b["model"] for b in fake.bodies} == {"openai/gpt-oss-120b"}
        assert {r.path for r in fake.requests} == {GROQ_PATH}

        # The same discovery again comes from the cache; --no-cache asks again.
        again = run("discovery", "--query", "SaaS founders", "--limit", "5")
        assert again["steps"][0]["meta"]["cached"] is True and len(fake.requests) == asked
        run("discovery", "--query", "SaaS founders", "--limit", "5", "--no-cache")
        assert len(fake.requests) == asked + 1

        assert cli("audit", "verify").exit_code == 0
        assert cli("credits", "check").exit_code == 0
        outputs.append(cli("audit", "list", "--limit", "1000", "--json").stdout)
        outputs.append(cli("executions", "list", "--json").stdout)
    for text in outputs:
        assert KEY not in text
    assert KEY not in dump_database(db)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AiResponseCache)) >= 4
        assert session.scalar(select(func.count()).select_from(Execution)) == 5


# --- per-token prices over items -------------------------------------------------------------


def _ledger_rows(db, execution_id) -> list[tuple[str, Decimal, str | None]]:
    with db.session() as session:
        rows = session.execute(
            select(
                CreditTransaction.kind,
                CreditTransaction.amount,
                CreditTransaction.idempotency_key,
            )
            .where(CreditTransaction.execution_id == execution_id)
            .order_by(CreditTransaction.created_at)
        )
        return [tuple(row) for row in rows]


def test_a_per_token_step_over_items_holds_and_charges_every_call(
    db, tmp_path, fake, make_customer
):
    """Items only an earlier step gives: one call's worth (max_tokens) is held with the run;
    the step holds as much again for every further item before its first call, and is
    charged every call's tokens."""
    make_customer(db, "items", "10")
    for _ in range(3):
        fake.then(Completion("Hello", prompt_tokens=500, completion_tokens=100))
    names = {"id": "names", "type": "state", "set": {"n": ["Acme", "Globex", "Initech"]}}
    step = ai_step(
        items="{{ state.n }}",
        prompt="Subject for {{ item }}",
        max_tokens=1000,
        credits={"per_1k_tokens": 1},
    )
    result = run_steps(db, tmp_path, groq_ai(fake), [{**names, "credits": 0}, step], "items")
    assert result.status == "success", result.error
    assert len(fake.requests) == 3
    assert result.steps[1].credits == Decimal("1.8000")  # 3 x 600 tokens at 1 per 1000
    assert result.credits_reserved == Decimal("3.0000")  # 1 with the run, 2 as the step began
    assert result.credits_used == Decimal("1.8000")
    assert result.credits_available == Decimal("8.2000")
    eid = result.execution_id
    assert _ledger_rows(db, eid) == [
        ("reserve", Decimal("1.0000"), f"exec:{eid}:reserve"),
        ("reserve", Decimal("2.0000"), f"exec:{eid}:ask:items:1"),
        ("capture", Decimal("1.8000"), f"exec:{eid}:capture"),
        ("release", Decimal("1.2000"), f"exec:{eid}:capture:release"),
    ]
    with db.session() as session:
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def test_items_the_inputs_give_are_held_with_the_run(db, tmp_path, fake, make_customer):
    """Regression: `--plan` said a run over items the balance could not cover would be
    refused (exit 4) before doing anything, but the run started, ran its earlier steps and
    failed at the AI step (exit 1). Items the inputs give are now held with the run."""
    make_customer(db, "known", "10")
    for _ in range(3):
        fake.then(Completion("Hello", prompt_tokens=500, completion_tokens=100))
    step = ai_step(
        items=["Acme", "Globex", "Initech"],
        prompt="Subject for {{ item }}",
        max_tokens=1000,
        credits={"per_1k_tokens": 1},
    )
    result = run_steps(db, tmp_path, groq_ai(fake), [step], "known")
    assert result.status == "success", result.error
    assert result.credits_reserved == Decimal("3.0000") and result.credits_used == Decimal("1.8")
    eid = result.execution_id
    assert _ledger_rows(db, eid) == [
        ("reserve", Decimal("3.0000"), f"exec:{eid}:reserve"),  # all three calls, at once
        ("capture", Decimal("1.8000"), f"exec:{eid}:capture"),
        ("release", Decimal("1.2000"), f"exec:{eid}:capture:release"),
    ]

    make_customer(db, "short2", "2")
    with pytest.raises(InsufficientCreditsError, match="needs 3.0000 but has 2.0000"):
        run_steps(db, tmp_path, groq_ai(fake), [step], "short2")
    plan = run_steps(db, tmp_path, groq_ai(fake), [step], "short2", plan_only=True)
    assert plan.credits_reserved == Decimal("3.0000")  # what the plan says is what is held


def test_items_the_balance_cannot_cover_fail_the_step_before_any_call(
    db, tmp_path, fake, make_customer
):
    make_customer(db, "short", "2")
    names = {"id": "names", "type": "state", "set": {"n": ["Acme", "Globex", "Initech"]}}
    step = ai_step(
        items="{{ state.n }}",
        prompt="Subject for {{ item }}",
        max_tokens=1000,
        credits={"per_1k_tokens": 1},
    )
    result = run_steps(db, tmp_path, groq_ai(fake), [{**names, "credits": 0}, step], "short")
    assert result.status == "failed"
    assert fake.requests == []
    failed = result.steps[1]
    assert failed.status == "failed" and failed.credits == 0
    assert failed.error == (
        "cannot hold one call's worth of credits per item: insufficient credits: 2.0000 more "
        "are needed but 1.0000 are available (Plan short plan)"
    )
    assert result.credits_used == 0 and result.credits_available == Decimal("2.0000")
    eid = result.execution_id
    assert [kind for kind, _, _ in _ledger_rows(db, eid)] == ["reserve", "release"]
    with db.session() as session:
        assert ledger.check_ledger(session) == []
        assert verify_chain(session).ok


def test_a_fixed_price_over_items_is_still_one_price(db, tmp_path, fake, make_customer):
    make_customer(db, "fixed", "10")
    step = ai_step(items=["Acme", "Globex"], prompt="Subject for {{ item }}", credits=0.5)
    result = run_steps(db, tmp_path, groq_ai(fake), [step], "fixed")
    assert result.status == "success", result.error
    assert result.credits_reserved == Decimal("0.5000") == result.credits_used


def test_the_plan_counts_every_item_it_can_see(db, tmp_path, fake, make_customer):
    make_customer(db, "plan", "10")
    priced = {"max_tokens": 1000, "credits": {"per_1k_tokens": 1}, "prompt": "Hi {{ item }}"}
    steps = [
        ai_step(id="known", items=["Acme", "Globex", "Initech"], **priced),
        ai_step(id="later", items="{{ steps.known.output }}", **priced),
    ]
    plan = run_steps(db, tmp_path, groq_ai(fake), steps, "plan", plan_only=True)
    known, later = plan.plan
    assert known["credits"] == "3.0000" and "credits_per_item" not in known
    assert later["credits"] == "1.0000" and later["credits_per_item"] == "1.0000"
    assert plan.credits_reserved == Decimal("4.0000")  # 1 + 1 held with the run, 2 more later
    assert fake.requests == []


def test_a_step_over_items_reports_how_far_it_has_got(seeded, tmp_path, fake):
    """Regression: 10,000 items showed `step subject: running…` for hours, with no count."""
    fake.then("a", "b", "c")
    recipe = {
        "slug": "progress",
        "name": "Progress",
        "version": 1,
        "inputs": {"type": "object", "properties": {}},
        "steps": [ai_step(items=["Acme", "Globex", "Initech"], prompt="Hi {{ item }}")],
    }
    path = tmp_path / "progress.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    seen: list[tuple[str, str]] = []
    runner = Runner(seeded, settings_for(seeded, groq_ai(fake)), progress=lambda *a: seen.append(a))
    assert runner.run(load_and_validate(str(path)), "acme", {}).status == "success"
    statuses = [status for step, status in seen if step == "ask"]
    assert statuses[0] == "running" and statuses[-1] == "ok"
    assert "running 3/3" in statuses  # the last count is always shown; others at most 10/s
