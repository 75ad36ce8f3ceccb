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
