"""`hunter run` as a script meets it: inputs from flags and files, and the exit codes."""

from __future__ import annotations


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


def test_a_hunter_toml_that_is_not_utf8_is_a_config_error(workspace, cli):
    (workspace / "hunter.toml").write_bytes(b'[workspace]\ndefault_customer = "\xff"\n')
    line = cli("credits", "show").one_line(2)
    assert "hunter.toml is not valid UTF-8 (byte 32)" in line
    assert cli("run", "discovery", "--json").error(2)["code"] == "config_error"
