"""Tables for people on a pipe or a narrow screen: values are never split or cut."""

from __future__ import annotations

import pytest


@pytest.fixture
def ready(workspace, seeded, cli, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    return cli


def test_a_pipe_gets_whole_lines(ready):
    """Regression: off a terminal rich wrapped at 80 columns, splitting values mid-word
    (`founders@techstartup.ex` / `ample`). CliRunner's output is not a terminal."""
    address = "founders.and.early.team@techstartup.example"
    reason = "asked us never to write again, by phone, on 26 November, to the support desk"
    assert ready("suppress", "add", address, "--reason", reason).exit_code == 0
    lines = ready("suppress", "list").stdout.splitlines()
    assert any(address in line and reason in line for line in lines), lines
    assert ready("credits", "grant", "acme", "5", "--reason", reason).exit_code == 0
    assert any(reason in line for line in ready("credits", "history", "acme").stdout.splitlines())


def test_a_narrow_screen_folds_text_and_keeps_numbers_whole(ready, monkeypatch):
    """Regression: with COLUMNS=40 `1,000.00` showed as `1,00`, and no ellipsis said so."""
    ready("credits", "grant", "acme", "123456.5", "--reason", "a long reason " * 4)
    monkeypatch.setenv("COLUMNS", "40")
    out = ready("credits", "history", "acme").stdout
    for value in ("1,000.00", "123,456.50", "124,456.50", "2026-", "grant"):
        assert value in out, out
    assert "reason" in out and "long" in out  # text folds, but is still there
    # A table that cannot fit is wider than the screen, not cut at its right edge.
    assert max(len(line) for line in out.splitlines()) > 40


def test_control_characters_in_data_are_shown_not_obeyed(ready):
    """Regression: an imported company `\x1b[31mREDCO\x1b[0m` coloured the user's terminal
    and an OSC 8 title hid a link in it; the table broke."""
    hostile = "\x1b[31mREDCO\x1b[0m \x1b]8;;https://evil.example\x1b\\CEO\x07"
    assert ready("suppress", "add", "x@y.example", "--reason", hostile).exit_code == 0
    out = ready("suppress", "list").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mREDCO\\x1b[0m" in out and "\\x07" in out


def test_an_import_report_and_an_error_show_the_files_control_characters(ready, workspace):
    """Regression: a CSV header `\x1b[31mEVIL\x1b[0m` coloured the terminal through "Kept
    only in data: ...", and a header that set the window's title (OSC 0) reached it through
    the error's "(found: ...)": the report lines and the CLI's one-line error escape them.
    With --json the message is the file's text, which JSON escapes once."""
    path = workspace / "h.csv"
    path.write_text("email,\x1b[31mEVIL\x1b[0m\nhdr@x.example,v\n")
    out = ready("leads", "import", str(path)).stdout
    assert "\x1b" not in out and "Kept only in data: \\x1b[31mEVIL\\x1b[0m." in out
    path.write_text("\x1b]0;TITLE\x07\n")
    line = ready("leads", "import", str(path)).one_line(2)
    assert "\x1b" not in line and line.endswith("(found: \\x1b]0;TITLE\\x07)")
    error = ready("leads", "import", str(path), "--json").error(2)
    assert error["message"].endswith("(found: \x1b]0;TITLE\x07)")


def test_a_rejected_rows_reason_holds_the_files_text(ready, workspace):
    """Regression: reasons quoted values with repr(), so --json escaped the escape again
    (`'x\\\\x1b'`) and a backslash came out doubled; the table escapes control characters
    for the terminal itself."""
    path = workspace / "r.csv"
    path.write_text(
        "email,score,tier\nann@x.example,9\x1b9,\nbob@x.example,,a\\b\ncy@x.example,,\n"
    )
    data = ready("leads", "import", str(path), "--json").ok()
    assert data["rejected"] == [
        {"row": 2, "reason": "score '9\x1b9' is not a whole number from 0 to 100"},
        {"row": 3, "reason": "tier 'a\\b' is not a single letter such as A, B or C"},
    ]
    out = ready("leads", "import", str(path)).stdout
    assert "\x1b" not in out and "score '9\\x1b9' is not" in out and "tier 'a\\b' is" in out
