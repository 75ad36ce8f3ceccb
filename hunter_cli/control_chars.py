"""Finding control characters in one-line text (a name, an address): a line break in a
sender's name would otherwise become a header of its own, or a new SMTP envelope address."""

from __future__ import annotations

import re

# C0 (tab, CR and LF among them), DEL, C1 (NEL among them), and Unicode's line and
# paragraph separators, which str.splitlines() and some mail software also break on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMES = {"\r": "a line break (CR)", "\n": "a line break (LF)", "\t": "a tab"}


def control_character(text: str) -> str | None:
    """The first control character in text, described for a message ("a line break (CR)",
    "the control character U+001B"), or None when there is none."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    char = found.group()
    return _NAMES.get(char, f"the control character U+{ord(char):04X}")
