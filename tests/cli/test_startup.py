"""`hunter --help` stays fast: the heavy libraries load only in the commands that use them."""

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "httpx", "groq", "jinja2", "jsonschema", "alembic", "yaml", "rich.table")


def test_help_imports_no_heavy_modules():
    code = (
        "import sys, json\n"
        "from hunter_cli.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='hunter')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    assert loaded == [], f"`hunter --help` imported {loaded}"
    assert "Usage: hunter" in result.stdout


def test_usage_errors_use_the_json_envelope_with_json(tmp_path):
    """Click reports a missing option before our command runs; with --json it still comes as
    the error envelope and exit code 2 (regression: it was Click's usage text)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "hunter_cli", "credits", "grant", "acme", "5", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["status"] == "error"
    assert document["error"]["code"] == "usage_error"
    assert "--reason" in document["error"]["message"]


def test_a_command_loads_only_its_own_group():
    """Command groups are built on first use: `hunter credits ...` never imports the others."""
    code = (
        "import sys, json\n"
        "from hunter_cli.cli.main import app\n"
        "try:\n"
        "    app(['credits', '--help'], prog_name='hunter')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('hunter_cli.cli.'))),"
        " file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    assert "hunter_cli.cli.credits" in loaded
    assert not {"hunter_cli.cli.outbox", "hunter_cli.cli.leads", "hunter_cli.cli.audit"} & set(
        loaded
    )
    assert "Usage: hunter credits" in result.stdout


def test_help_lists_every_group_and_a_typo_gets_a_suggestion():
    from typer.testing import CliRunner

    from hunter_cli.cli.main import GROUPS, app

    runner = CliRunner()
    listed = runner.invoke(app, ["--help"]).output
    for name in ("init", "seed", "run", *GROUPS):
        assert f"  {name} " in listed or f"  {name}\n" in listed, name
    typo = runner.invoke(app, ["credit", "show"])
    assert typo.exit_code == 2
    assert "Did you mean 'credits'?" in typo.output


def test_a_command_closes_its_database_at_exit(tmp_path):
    """The console script skips the final garbage collection, so it closes the databases
    itself: SQLite checkpoints its write-ahead log and removes it, as on a normal close."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    ws = tmp_path / "ws"

    def hunter(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "hunter_cli", *args],
            cwd=ws if ws.exists() else tmp_path,
            env=env,
            capture_output=True,
            check=True,
        )

    hunter("init", str(ws))
    hunter("seed")
    hunter("credits", "grant", "acme", "1", "--reason", "test")
    assert sorted(p.name for p in (ws / ".hunter").iterdir()) == ["hunter.db"]


def test_checking_hunter_tomls_service_tables_imports_no_heavy_module(tmp_path):
    """Every command loads hunter.toml, and [providers.*], [channels.*] and [ai] are checked
    as it loads: with no HTTP, SMTP or database library."""
    (tmp_path / "hunter.toml").write_text(
        '[ai]\nprovider = "groq"\n[ai.openai]\nmodel = "llama3.2"\n'
        "[providers.hunter_io]\npage_size = 10\n[providers.apollo]\nenrich = false\n"
        '[providers.csv]\npath = "leads.csv"\n[providers.local]\n'
        '[channels.email]\nhost = "smtp.example.com"\n[channels.sms]\nfrom = "+15550100"\n'
    )
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from hunter_cli.config import load_settings\n"
        f"load_settings(cwd=Path({str(tmp_path)!r}), environ={{}})\n"
        f"heavy = {(*HEAVY, 'smtplib', 'ssl')!r}\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_a_run_without_messages_or_requests_imports_only_what_it_uses(workspace, cli):
    """A whole `hunter run` is mostly imports: a recipe that sends nothing and calls no API
    must not load the delivery path (outbox, suppression, channels), httpx or alembic.
    Regression: asking whether the customer has `send = true` imported hunter_cli.delivery
    on every run (about 20 ms)."""
    import os

    assert cli("seed").exit_code == 0
    (workspace / "quiet.yaml").write_text(
        "slug: quiet\nname: Quiet\nversion: 1\ninputs: {type: object, properties: {}}\n"
        "steps:\n  - {id: a, type: state, set: {x: 1}}\n"
    )
    code = (
        "import sys, json\n"
        "from hunter_cli.entry import main\n"
        "sys.argv = ['hunter', 'run', 'quiet.yaml', '--json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "unwanted = ('hunter_cli.delivery', 'hunter_cli.outbox', 'hunter_cli.suppression',\n"
        "            'httpx', 'alembic', 'smtplib')\n"
        "print(json.dumps([m for m in unwanted if m in sys.modules]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=workspace,
        env=dict(os.environ),
        check=False,
    )
    assert '"status": "ok"' in result.stdout, result.stdout + result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
