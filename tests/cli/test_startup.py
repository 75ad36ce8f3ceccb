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
