"""`hunter run` as a script meets it: inputs from flags and files, and the exit codes."""

from __future__ import annotations

import pytest


def test_input_json_that_is_not_utf8_is_a_usage_error(workspace, cli):
    """Regression: a UnicodeDecodeError traceback and exit 1 (--json: internal_error)."""
    (workspace / "bin.json").write_bytes(b"\xff\xfe")
    line = cli("run", "discovery", "--input-json", "bin.json").one_line(2)
    assert "--input-json bin.json is not valid UTF-8 (byte 0)" in line
    error = cli("run", "discovery", "--input-json", "bin.json", "--json").error(2)
    assert "--input-json bin.json is not valid UTF-8" in error["message"]
    # From standard input too (it was decoded leniently, then "Expecting value").
    from_stdin = cli("run", "discovery", "--input-json", "-", "--json", input=b"\xff\xfe")
    assert "--input-json - is not valid UTF-8" in from_stdin.error(2)["message"]


@pytest.mark.parametrize("depth", [500, 5000])
def test_input_json_nested_too_deeply_is_bad_input(workspace, cli, depth):
    """Regression: 500 levels gave a RecursionError traceback ("a bug", exit 1)."""
    (workspace / "deep.json").write_text('{"x": ' + "[" * depth + "]" * depth + "}")
    line = cli("run", "discovery", "--input-json", "deep.json").one_line(2)
    assert "--input-json deep.json: nested more than 64 levels deep" in line
    (workspace / "null.json").write_text("null")
    assert "expected a JSON object" in cli(
        "run", "discovery", "--input-json", "null.json"
    ).one_line(2)


def test_a_hunter_toml_that_is_not_utf8_is_a_config_error(workspace, cli):
    (workspace / "hunter.toml").write_bytes(b'[workspace]\ndefault_customer = "\xff"\n')
    line = cli("credits", "show").one_line(2)
    assert "hunter.toml is not valid UTF-8 (byte 32)" in line
    assert cli("run", "discovery", "--json").error(2)["code"] == "config_error"


FLAGS_RECIPE = """\
slug: flags
name: Flags
version: 1
inputs:
  type: object
  properties:
    query: {type: string}
    limit: {type: integer, default: 5}
    dry: {type: boolean, default: false}
steps:
  - {id: a, type: state, set: {dry: "{{ inputs.dry }}", query: "{{ inputs.query }}"}}
outputs:
  dry: "{{ inputs.dry }}"
"""


@pytest.fixture
def flags_recipe(workspace, cli):
    assert cli("seed").exit_code == 0
    path = workspace / "flags.yaml"
    path.write_text(FLAGS_RECIPE)
    return str(path)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("--query",), "query"),  # last on the line
        (("--query", "--dry"), "query"),  # followed by another flag
        (("--query", "x", "--limit"), "limit"),  # was "'true' is not of type 'integer'"
    ],
)
def test_an_input_flag_without_a_value_needs_one(flags_recipe, cli, args, name):
    """Regression: `--query` alone became the string "true"; the run succeeded, charged."""
    before = cli("credits", "show", "--json").ok()
    line = cli("run", flags_recipe, *args).stderr
    assert f"input '{name}' needs a value: --{name} VALUE" in line
    error = cli("run", flags_recipe, *args, "--json").error(2)
    assert error["details"]["problems"] == [f"input '{name}' needs a value: --{name} VALUE"]
    assert cli("executions", "list", "--json").ok() == []
    assert cli("credits", "show", "--json").ok() == before


def test_a_boolean_input_may_be_a_bare_flag(flags_recipe, cli):
    data = cli("run", flags_recipe, "--dry", "--query", "x", "--json").ok()
    assert data["outputs"]["dry"] is True
    data = cli("run", flags_recipe, "--query", "x", "--dry", "--json").ok()
    assert data["outputs"]["dry"] is True


REPEATED_RECIPE = """\
slug: repeated
name: Repeated
version: 1
inputs:
  type: object
  properties:
    city: {type: string}
    tags: {type: array, items: {type: string}}
    nums: {type: array, items: {type: integer}}
steps:
  - {id: a, type: state, set: {city: "{{ inputs.city }}"}}
outputs:
  tags: "{{ inputs.tags }}"
  nums: "{{ inputs.nums }}"
"""


def test_an_input_given_twice_is_a_list_or_an_error(workspace, cli):
    """Regression: `--city Berlin --city Munich` ran for Munich without a word. An array
    input collects every value given; any other refuses the second."""
    assert cli("seed").exit_code == 0
    (workspace / "repeated.yaml").write_text(REPEATED_RECIPE)
    for args in (
        ("--city", "Berlin", "--city", "Munich"),
        ("-i", "city=Berlin", "-i", "city=Munich"),
    ):
        error = cli("run", "repeated.yaml", *args, "--json").error(2)
        assert error["details"]["problems"] == [
            "input 'city' is given 2 times ('Berlin', 'Munich'): it takes one value"
        ]
    assert cli("executions", "list", "--json").ok() == []
    args = ("--city", "B", "--tags", "a", "--tags", "b,c", "--nums", "1", "--nums=2")
    outputs = cli("run", "repeated.yaml", *args, "--json").ok()["outputs"]
    assert outputs == {"tags": ["a", "b", "c"], "nums": [1, 2]}


def test_a_plan_the_balance_cannot_cover_exits_4(workspace, cli):
    """Regression: "Most this run can cost: 10.00 credits (available: 1.02)" and exit 0."""
    assert cli("seed").exit_code == 0
    expensive = workspace / "expensive.yaml"
    expensive.write_text(
        "slug: expensive\nname: E\nversion: 1\ndescription: d\n"
        "inputs: {type: object, properties: {}}\n"
        "steps:\n  - {id: a, type: state, set: {x: 1}, credits: 5000}\n"
    )
    result = cli("run", str(expensive), "--plan")
    assert result.exit_code == 4
    assert "Most this run can cost: 5,000.00 credits" in result.stdout
    assert "insufficient credits: acme has 1,000.00 available but this run can cost" in (
        result.stderr
    )
    document = cli("run", str(expensive), "--plan", "--json")
    assert document.exit_code == 4
    body = document.json()  # the plan stays in data, next to the error
    assert body["status"] == "error" and body["error"]["code"] == "insufficient_credits"
    # As a refused run gives them (they were missing from the plan's error).
    assert body["error"]["details"] == {"needed": "5000.0000", "available": "1000.0000"}
    assert body["data"]["plan"][0]["id"] == "a"
    assert cli("executions", "list", "--json").ok() == []
    # One it can cover is still 0.
    assert cli("run", "discovery", "--plan", "--query", "SaaS founders").exit_code == 0


def test_a_run_that_can_cost_more_than_any_balance_is_refused_not_a_crash(workspace, cli):
    """Regression: a valid recipe whose most-it-can-cost overflowed the database's numeric
    column crashed with a traceback (SQLite OverflowError, PostgreSQL numeric overflow)."""
    assert cli("seed").exit_code == 0
    (workspace / "huge.yaml").write_text(
        "slug: huge\nname: H\nversion: 1\ninputs: {type: object, properties: {}}\nsteps:\n"
        + "".join(
            f"  - {{id: c{n}, type: subscription, operation: charge, amount: 99999999999999}}\n"
            for n in range(3)
        )
    )
    error = cli("run", "huge.yaml", "--json").error(4)
    assert error["code"] == "insufficient_credits"
    assert "more than any balance holds (99999999999999.9999)" in error["message"]
    assert cli("executions", "list", "--json").ok() == []


def test_run_help_lists_exit_code_6(cli):
    assert "6 database unavailable" in " ".join(cli("run", "--help").stdout.split())


def test_a_global_option_after_the_command_says_where_it_goes(workspace, cli):
    """Regression: `hunter run discovery --database-url X` said "unknown input
    'database_url'"."""
    args = ("run", "discovery", "--query", "SaaS", "--database-url", "sqlite:///x.db")
    error = cli(*args, "--json").error(2)
    assert error["details"]["problems"] == [
        "--database-url is a global option: give it before the command "
        "(hunter --database-url VALUE run ...)"
    ]


PLAN_RECIPE = """\
slug: sends
name: Sends
version: 1
inputs: {type: object, properties: {q: {type: string, default: dentists}}}
steps:
  - id: call
    type: action
    action: api_call
    method: POST
    url: "http://127.0.0.1:18100/v1/search?q={{ inputs.q }}&api_key=abc123"
    query: {page: 2}
    json: {query: "{{ inputs.q }}", limit: 5}
  - id: mail
    type: correspondence
    channel: email
    to: ann@example.com
    subject: "About {{ inputs.q }}"
    body: Hi
  - id: mails
    type: correspondence
    channel: email
    items: [{email: a@x.io}, {email: b@x.io}, {email: c@x.io}, {email: d@x.io}]
    to: "{{ item.email }}"
    subject: "Hi {{ item.email }}"
    body: Hi
"""


def test_the_plan_table_shows_what_each_step_would_send(workspace, cli):
    """Regression: an api_call showed only `http:GET 127.0.0.1:18100`, and "sends" was
    empty or a bare count, though --plan --json had the rendered URL and body."""
    import os
    import subprocess
    import sys

    assert cli("seed").exit_code == 0
    (workspace / "sends.yaml").write_text(PLAN_RECIPE)
    # A real terminal's width, wide enough that no cell is folded.
    shown = subprocess.run(
        [sys.executable, "-m", "hunter_cli", "run", "sends.yaml", "--plan"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "POST http://127.0.0.1:18100/v1/search?q=dentists&api_key=[REDACTED]&page=2" in out
    assert 'body: {"query": "dentists", "limit": 5}' in out
    assert "1 email to ann@example.com" in out
    assert "subject: About dentists" in out
    assert "4 emails to a@x.io, b@x.io, c@x.io and 1 more" in out
    assert "subject: Hi a@x.io" in out
    assert "abc123" not in out
    plan = cli("run", "sends.yaml", "--plan", "--json").json()["data"]["plan"]
    assert plan[0]["request"].startswith("POST http://127.0.0.1:18100/v1/search?q=dentists&")
    assert plan[1]["subject"] == "About dentists" and plan[2]["sends"] == 4


PARTIAL_RECIPE = """\
slug: partial
name: Partial
version: 1
inputs: {type: object, properties: {}}
steps:
  - {id: a, type: state, set: {n: 1}}
  - id: first
    type: action
    action: data_processing
    operation: limit
    items: "{{ steps.a.output }}"
    count: 1
    on_error: continue
  - id: second
    type: action
    action: data_processing
    operation: limit
    items: "{{ steps.a.output }}"
    count: 1
    on_error: continue
"""


def test_a_partial_run_names_the_steps_that_failed(workspace, cli):
    """Regression: `run_partial`'s message was just "run partial", where `run_failed` names
    the step and its error."""
    assert cli("seed").exit_code == 0
    path = workspace / "partial.yaml"
    path.write_text(PARTIAL_RECIPE)
    result = cli("run", str(path), "--json")
    assert result.exit_code == 5
    document = result.json()
    assert document["error"]["code"] == "run_partial"
    message = document["error"]["message"]
    assert message.startswith("step 'first' failed: ") and "; step 'second' failed: " in message
    assert document["data"]["error"] == message
    assert "error: step 'first' failed: " in cli("run", str(path)).stderr


CHARGE_RECIPE = """\
slug: charge
name: Charge
version: 1
inputs: {type: object, properties: {}}
steps:
  - {id: pay, type: subscription, operation: charge, amount: 150}
  - {id: later, type: state, set: {x: 1}, if: "{{ steps.pay.status == 'ok' }}"}
"""


def test_plan_and_show_give_json_like_every_other_command(workspace, cli):
    """Regression: `run --plan --json` gave "charges": "150" (other credit amounts are
    "150.0000"), and `recipes show --json` gave "" for a step with no condition or summary."""
    assert cli("seed").exit_code == 0
    path = workspace / "charge.yaml"
    path.write_text(CHARGE_RECIPE)
    plan = cli("run", str(path), "--plan", "--json").ok()["plan"]
    assert plan[0]["charges"] == "150.0000"
    shown = cli("recipes", "show", str(path), "--json").ok()
    pay, later = shown["steps"]
    assert (pay["if"], pay["does"]) == (None, None)
    assert later["if"] == "{{ steps.pay.status == 'ok' }}"
    assert cli("recipes", "show", str(path)).exit_code == 0


SECRET_PLAN_RECIPE = """\
slug: secrets
name: Secrets
version: 1
inputs: {type: object, properties: {}}
steps:
  - id: s
    type: state
    set: {names: [a, b]}
  - id: call
    type: action
    action: api_call
    method: POST
    url: "http://user:pw-SECRET@127.0.0.1:18100/x?access_token=tok-SECRET&page=2"
    headers: {Authorization: "Bearer tok-SECRET"}
    json: {names: [a], password: p-SECRET}
  - id: later
    type: action
    action: api_call
    method: POST
    url: http://127.0.0.1:18100/y
    json: "{{ {'names': state.names} }}"
"""


def test_the_plan_hides_secrets_in_params_and_waits_for_later_values(workspace, cli):
    """Regression: --plan --json's `params` showed the password in the URL, the bearer
    token and a password in the body that `request` and `body` hid; and a body built from
    state not set yet crashed the plan ("UndefinedError", internal error)."""
    assert cli("seed").exit_code == 0
    (workspace / "secrets.yaml").write_text(SECRET_PLAN_RECIPE)
    result = cli("run", "secrets.yaml", "--plan", "--json")
    assert "SECRET" not in result.stdout
    call, later = result.ok()["plan"][1:]
    assert call["params"]["headers"] == {"Authorization": "[REDACTED]"}
    assert call["params"]["json"] == {"names": ["a"], "password": "[REDACTED]"}
    assert call["params"]["url"].startswith("http://user:[REDACTED]@127.0.0.1:18100/x?")
    assert later["params"]["json"] == "{{ {'names': state.names} }}"  # known when it runs
    assert cli("run", "secrets.yaml", "--plan").exit_code == 0


PLAN_PROBLEMS_RECIPE = """\
slug: problems
name: Problems
version: 1
inputs:
  type: object
  properties:
    n: {type: integer}
    base: {type: string, default: "127.0.0.1:8794"}
steps:
  - {id: a, type: state, set: {x: 1}}
  - id: call
    type: action
    action: api_call
    url: "{{ inputs.base }}/enrich?x={{ 10 / inputs.n }}"
    auth: {type: bearer, env: HUNTER_TEST_UNSET_KEY}
  - id: later
    type: action
    action: api_call
    url: "http://api.example/{{ steps.a.output.x }}"
  - {id: check, type: subscription, operation: check_balance, minimum: 5000}
"""


def test_the_plan_warns_of_what_will_fail_the_run(workspace, cli, monkeypatch):
    """Regression: each of these planned with no word, then failed the run after charging
    the steps before it: a template that fails on these inputs, a URL with no scheme, an
    auth variable not set, a balance check that cannot pass. A template waiting for a later
    step's output is no problem."""
    monkeypatch.delenv("HUNTER_TEST_UNSET_KEY", raising=False)
    assert cli("seed").exit_code == 0
    (workspace / "problems.yaml").write_text(PLAN_PROBLEMS_RECIPE)
    divide = cli("run", "problems.yaml", "--plan", "--n", "0")
    assert divide.exit_code == 0
    assert (
        "warning: step call: url: error evaluating '{{ inputs.base }}/enrich?x={{ 10 / "
        "inputs.n }}': ZeroDivisionError: division by zero (a real run would fail)"
    ) in " ".join(divide.stderr.split())
    warnings = cli("run", "problems.yaml", "--plan", "--n", "2", "--json").ok()["warnings"]
    assert warnings == [
        "step call: url must be an http:// or https:// URL, got a string "
        "('127.0.0.1:8794/enrich?x=5.0'); auth: environment variable HUNTER_TEST_UNSET_KEY "
        "is not set (a real run would fail)",
        "step check: available credits 999.9600 (after this run's hold) are below the "
        "minimum 5000 "
        "(a real run would fail)",
    ]


def test_the_plan_warns_of_a_lead_provider_without_its_key(workspace, cli, monkeypatch):
    monkeypatch.delenv("HUNTER_API_KEY", raising=False)
    assert cli("seed").exit_code == 0
    args = ("run", "discovery", "--query", "northwind.example", "--provider", "hunter_io")
    data = cli(*args, "--plan", "--json").ok()
    assert data["warnings"] == [
        "step search: hunter_io needs an API key: HUNTER_API_KEY is not set (a real run would fail)"
    ]


def test_the_plan_counts_a_suppressed_recipient_as_skipped(workspace, cli):
    """Regression: `run --plan` listed a suppressed recipient among the sends, with no word
    that the run would skip it."""
    import os
    import subprocess
    import sys

    assert cli("seed").exit_code == 0
    (workspace / "sends.yaml").write_text(PLAN_RECIPE.replace("d@x.io}]", "not-an-address}]"))
    assert cli("suppress", "add", "b@x.io", "--reason", "asked").exit_code == 0
    plan = cli("run", "sends.yaml", "--plan", "--json").json()["data"]["plan"]
    mails = plan[2]
    assert (mails["sends"], mails["recipients"]) == (2, ["a@x.io", "c@x.io"])
    assert mails["skips"] == 2 and "skipped" not in mails  # that is a step its `if` skips
    assert mails["skipped_recipients"] == [
        {"recipient": "b@x.io", "reason": "suppressed: b@x.io is on the suppression list (asked)"},
        {"recipient": "not-an-address", "reason": "invalid email address 'not-an-address'"},
    ]
    shown = subprocess.run(
        [sys.executable, "-m", "hunter_cli", "run", "sends.yaml", "--plan"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "2 emails to a@x.io, c@x.io" in shown.stdout
    assert "skipped: b@x.io (suppressed), not-an-address (invalid)" in shown.stdout


def test_the_plan_shows_what_an_ai_step_would_ask(workspace, cli):
    """Regression: an AI step's prompt stayed out of the plan, though it reads only inputs;
    for a step over items it is the first item's."""
    assert cli("seed").exit_code == 0
    plan = cli("run", "discovery", "--query", "SaaS founders", "--plan", "--json").ok()["plan"]
    assert plan[0]["id"] == "expand"
    assert plan[0]["prompt"] == "Lead search query: SaaS founders"


def test_recipes_show_names_the_types_a_schema_allows(workspace, cli):
    """Regression: a $ref'd, enum or anyOf input showed as type `any`, a boolean schema
    (`city: true`) crashed `recipes show`, and a plain value where a schema belongs crashed
    `recipes validate` (and `seed`, for a file in recipes/)."""
    (workspace / "typed.yaml").write_text(
        "slug: typed\nname: Typed\nversion: 1\n"
        "inputs:\n  type: object\n  $defs: {cc: {type: string, pattern: '^[A-Z]{2}$'}}\n"
        "  properties:\n    city: true\n    tier: {enum: [A, B]}\n"
        "    country: {$ref: '#/$defs/cc'}\n"
        "    limit: {anyOf: [{type: integer}, {type: string}], default: 3}\n"
        "steps:\n  - {id: a, type: state, set: {x: 1}}\n"
    )
    shown = cli("recipes", "show", "typed.yaml", "--json").ok()
    types = {i["name"]: (i["type"], i["default"]) for i in shown["inputs"]}
    assert types == {
        "city": ("any", None),
        "tier": ("string", None),
        "country": ("string", None),
        "limit": ("integer or string", 3),
    }
    (workspace / "recipes").mkdir(exist_ok=True)
    (workspace / "recipes" / "plain.yaml").write_text(
        "slug: plain\nname: P\nversion: 1\ninputs:\n  type: object\n  properties:\n"
        "    city: string\nsteps:\n  - {id: a, type: state, set: {x: 1}}\n"
    )
    line = cli("recipes", "validate").stdout + cli("recipes", "validate").stderr
    assert "inputs.properties.city: 'string' is not of type 'object', 'boolean'" in line
    assert "Traceback" not in line


ONCE_RECIPE = """\
slug: once
name: Once
version: 1
inputs: {type: object, properties: {}}
steps:
  - id: mails
    type: correspondence
    channel: email
    items: [a@x.io, b@x.io]
    to: "{{ item }}"
    subject: Hi
    body: Hi
"""


def test_the_plan_counts_people_already_written_to_as_skipped(workspace, cli, db_url):
    """Regression: `--plan` counted among the sends people that once-per-recipient would
    skip: already sent to by an earlier run of the step, or with a draft waiting."""
    from sqlalchemy import update

    from hunter_cli.db.engine import Database
    from hunter_cli.db.models import OutboxMessage

    assert cli("seed").exit_code == 0
    (workspace / "once.yaml").write_text(ONCE_RECIPE)
    assert cli("run", "once.yaml", "--json").ok()["steps"][0]["output"]["queued"] == 2
    (mails,) = cli("run", "once.yaml", "--plan", "--json").ok()["plan"]
    assert (mails["sends"], mails["skips"]) == (0, 2)
    assert mails["skipped_recipients"][0] == {
        "recipient": "a@x.io",
        "reason": "a draft to this recipient is already queued by an earlier run",
    }
    db = Database(db_url)  # as if a@x.io's draft had been delivered since
    with db.session() as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.recipient == "a@x.io").values(status="sent")
        )
    db.dispose()
    (mails,) = cli("run", "once.yaml", "--plan", "--json").ok()["plan"]
    assert mails["skipped_recipients"][0] == {
        "recipient": "a@x.io",
        "reason": "already sent by an earlier run of this step (once_per_recipient)",
    }
    # With --send, the waiting draft is what the run delivers: it counts as a send.
    (mails,) = cli("run", "once.yaml", "--plan", "--send", "--json").ok()["plan"]
    assert (mails["sends"], mails["recipients"], mails["skips"]) == (1, ["b@x.io"], 1)
