"""`hunter outbox list/show` after a real `hunter run`, as a user meets them."""

from __future__ import annotations

import json

import pytest
import yaml

SECRET = "s3cr3t-hook-token"


@pytest.fixture
def ran(workspace, cli, tmp_path):
    """A seeded workspace where a recipe queued e-mails (one skipped) and a webhook."""
    assert cli("seed").exit_code == 0
    recipe = {
        "slug": "outreach",
        "name": "Outreach",
        "version": 1,
        "inputs": {"type": "object", "properties": {"query": {"type": "string"}}},
        "steps": [
            {
                "id": "leads",
                "type": "state",
                "set": {
                    "leads": [
                        {"name": "Ann", "email": "ann@example.com"},
                        {"name": "Bob", "email": "bob@"},
                        {"name": "Cy", "email": "cy@example.com"},
                    ]
                },
            },
            {
                "id": "mail",
                "type": "correspondence",
                "channel": "email",
                "items": "{{ state.leads }}",
                "to": "{{ item.email }}",
                "subject": "About {{ inputs.query }}",
                "body": "Dear {{ item.name }},\n[b]hi[/b]",
                "html": "<p>Dear {{ item.name }}</p>",
            },
            {
                "id": "hook",
                "type": "correspondence",
                "channel": "webhook",
                "url": f"https://hooks.example.com/in?token={SECRET}",
                "payload": {"count": "{{ steps.mail.output.queued }}", "api_key": SECRET},
            },
        ],
    }
    path = tmp_path / "outreach.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    result = cli("run", str(path), "--customer", "acme", "--json", "--query", "dentists")
    data = result.ok()
    assert data["status"] == "success"
    assert SECRET not in result.stdout
    return data


def test_list_shows_the_newest_messages(ran, cli):
    rows = cli("outbox", "list", "--json").ok()
    assert len(rows) == 4
    assert {(r["channel"], r["recipient"], r["status"]) for r in rows} == {
        ("email", "ann@example.com", "queued"),
        ("email", "bob@", "skipped"),
        ("email", "cy@example.com", "queued"),
        ("webhook", "https://hooks.example.com/in?…", "queued"),
    }
    assert all(r["customer"] == "acme" and r["execution_id"] == ran["execution_id"] for r in rows)
    assert all(r["delivered"] is False and r["sent_at"] is None for r in rows)

    human = cli("outbox", "list")
    assert human.exit_code == 0, human.stderr
    # The table folds long cells at the test terminal's width: look for words.
    words = " ".join(human.stdout.split())
    for text in ("Outbox", "About", "dentists", "skipped", "nothing is sent"):
        assert text in words
    assert rows[0]["id"][:8] in human.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--status", "skipped"), {"bob@"}),
        (("--channel", "webhook"), {"https://hooks.example.com/in?…"}),
        (("--customer", "global"), set()),
        (
            ("--customer", "ACME", "--channel", "email", "--status", "queued"),
            {"ann@example.com", "cy@example.com"},
        ),
    ],
)
def test_list_filters(ran, cli, args, expected):
    rows = cli("outbox", "list", *args, "--json").ok()
    assert {r["recipient"] for r in rows} == expected


def test_list_by_execution_and_limit(ran, cli):
    assert len(cli("outbox", "list", "--execution", ran["execution_id"], "--json").ok()) == 4
    prefix = ran["execution_id"][:8]  # as `hunter run` shows it
    assert len(cli("outbox", "list", "--execution", prefix, "--json").ok()) == 4
    cut = cli("outbox", "list", "-n", "1", "--json")
    assert len(cut.ok()) == 1
    assert cut.stderr.strip() == (
        "note: Showing the newest 1; use --limit to see more (or --offset 1 for the next 1)."
    )
    assert (
        "Showing the newest 1; use --limit to see more" in cli("outbox", "list", "-n", "1").stdout
    )
    # Paging: each message once, newest first, as --limit 4 lists them.
    whole = [r["id"] for r in cli("outbox", "list", "-n", "4", "--json").ok()]
    pages = [
        r["id"]
        for start in range(4)
        for r in cli("outbox", "list", "-n", "1", "--offset", str(start), "--json").ok()
    ]
    assert pages == whole and len(set(pages)) == 4
    assert "after the newest 9" in cli("outbox", "list", "--offset", "9").stdout
    assert "use --limit" not in cli("outbox", "list").stdout
    other = "00000000-0000-4000-8000-000000000000"
    assert cli("outbox", "list", "--execution", other, "--json").ok() == []
    # `outbox send` calls a message whose delivery is not known `unknown`: it is `sending`.
    assert cli("outbox", "list", "--status", "unknown", "--json").ok() == []
    empty = cli("outbox", "list", "--execution", other)
    assert "No messages in the outbox match." in empty.stdout


def test_show_a_message_by_prefix(ran, cli):
    rows = cli("outbox", "list", "--status", "queued", "--channel", "email", "--json").ok()
    ann = next(r for r in rows if r["recipient"] == "ann@example.com")
    human = cli("outbox", "show", ann["id"][:8])
    assert human.exit_code == 0, human.stderr
    out = human.stdout
    assert "id:" in out and ann["id"] in out
    assert "queued (not delivered: dry run)" in out
    assert "from:" in out and "Acme Growth <growth@acme.example>" in out
    assert "to:" in out and "ann@example.com" in out
    assert "subject:" in out and "About dentists" in out
    # The body is printed verbatim after the headers (brackets are text, not markup).
    headers, body = out.split("\n\n", 1)
    assert "Dear Ann,\n[b]hi[/b]" in body
    assert "--- html ---" in body and "<p>Dear Ann</p>" in body

    data = cli("outbox", "show", ann["id"], "--json").ok()
    assert data["id"] == ann["id"] and data["body"] == "Dear Ann,\n[b]hi[/b]"
    assert data["payload"]["reply_to"] == "hello@acme.example"


def test_show_a_skipped_message_gives_the_reason(ran, cli):
    bob = cli("outbox", "list", "--status", "skipped", "--json").ok()[0]
    out = cli("outbox", "show", bob["id"][:10]).stdout
    assert "reason:" in out and "invalid email address 'bob@'" in out


def test_show_unknown_ids(ran, cli):
    result = cli("outbox", "show", "00000000-0000-4000-8000-000000000000")
    assert result.exit_code == 3
    assert "no outbox message with id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    error = cli("outbox", "show", "nothere", "--json").error(3)
    assert error["code"] == "not_found"
    assert cli("outbox", "show", "abc", "--json").error(2)["code"] == "usage_error"


def test_bad_options_are_usage_errors(ran, cli):
    assert cli("outbox", "list", "--status", "lost", "--json").error(2)["code"] == "usage_error"
    assert cli("outbox", "list", "--channel", "fax", "--json").error(2)
    assert "not an execution id" in cli("outbox", "list", "--execution", "x").stderr
    assert cli("outbox", "list", "--customer", "nobody", "--json").error(3)


def test_nothing_secret_in_outputs(ran, cli):
    hook = cli("outbox", "list", "--channel", "webhook", "--json").ok()[0]
    shown = cli("outbox", "show", hook["id"], "--json")
    listed = cli("outbox", "list", "--json")
    human = cli("outbox", "show", hook["id"])
    audit = cli("audit", "list", "--json")
    for result in (shown, listed, human, audit):
        assert result.exit_code == 0, result.stderr
        assert SECRET not in result.stdout
    payload = shown.ok()["payload"]
    assert payload["json"] == {"count": 2, "api_key": "[REDACTED]"}
    assert payload["method"] == "POST"
    assert "hooks.example.com/in?…" in human.stdout
    entries = [e for e in audit.ok() if e["action"].startswith("correspondence.")]
    assert {e["action"] for e in entries} == {"correspondence.queued", "correspondence.skipped"}
    assert all("Dear" not in json.dumps(e["details"]) for e in entries)


def test_help_says_messages_are_not_delivered(workspace, cli):
    for args in (("outbox", "--help"), ("outbox", "list", "--help")):
        result = cli(*args)
        assert result.exit_code == 0
        assert "nothing is" in " ".join(result.stdout.split())
