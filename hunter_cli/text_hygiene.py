"""Characters in text from outside (files, providers, recipes) that no name or address holds,
text made storable (PostgreSQL refuses a NUL in text and \\u0000 in JSONB, and no database
stores a lone surrogate, which a JSON "\\ud800" decodes to), and a database's refusal of
such text told from a bug."""

from __future__ import annotations

import re
from typing import Any

# Unicode's control characters (Cc: C0, DEL, C1) and surrogates (Cs).
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A NUL, or half of a surrogate pair on its own: what storable() removes or replaces.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def forbidden_character(text: str) -> str | None:
    """The first character in text that no name, address or domain holds: a control
    character (NUL, ESC, a bell, a tab, C1 codes: Unicode's Cc) or a lone surrogate (Cs).
    None when it has none. A file that holds one in such a place is damaged (a UTF-16 file
    read as cp1252 has a NUL between letters) or hostile (an escape sequence for a
    terminal)."""
    found = _FORBIDDEN.search(text)
    return found.group() if found else None


# One-line text (a sender's name, an address option): Cc as above, and Unicode's line and
# paragraph separators, which str.splitlines() and some mail software also break on. A line
# break in a sender's name would otherwise become a header of its own, or a new SMTP
# envelope address.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMES = {"\r": "a line break (CR)", "\n": "a line break (LF)", "\t": "a tab"}


def control_character(text: str) -> str | None:
    """The first control character in one-line text, described for a message ("a line
    break (CR)", "the control character U+001B"), or None when there is none."""
    found = _LINE_BREAKING.search(text)
    if found is None:
        return None
    char = found.group()
    return _NAMES.get(char, f"the control character U+{ord(char):04X}")


def describe_character(char: str) -> str:
    """How a reason names a character that a terminal would obey, or that cannot be stored,
    rather than show it: "a control character (U+001B)"."""
    kind = "a lone surrogate" if _SURROGATE.match(char) else "a control character"
    return f"{kind} (U+{ord(char):04X})"


def storable_text(text: str) -> str:
    """text without NULs, and with a lone surrogate replaced by U+FFFD (as a decoder marks
    what it cannot read)."""
    if not _UNSTORABLE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def escape_unstorable(text: str) -> str:
    """text with a NUL or a lone surrogate written as repr() writes it (\\x00, \\ud800):
    storable, and never the same as other text (where dropping the NUL of `n<NUL>m@x.com`
    would give the address nm@x.com)."""
    return _UNSTORABLE.sub(lambda found: repr(found.group())[1:-1], text)


def storable(value: Any) -> Any:
    """A JSON-like value with every text in it, mapping keys included, made storable_text."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {
            (storable_text(k) if isinstance(k, str) else k): storable(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def refused_character(exc: BaseException) -> str | None:
    """What a database refused in text, when that is why exc was raised (it, or what it
    wraps): PostgreSQL stores no NUL in text (psycopg's DataError) nor \\u0000 in JSONB
    (SQLSTATE 22P05), and no database a lone surrogate (a UnicodeEncodeError)."""
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        text = str(found)
        if isinstance(found, UnicodeEncodeError) and "surrogate" in text:
            return "a lone surrogate (half of a UTF-16 pair)"
        if type(found).__module__.startswith("psycopg"):
            if "NUL (0x00)" in text or "\\u0000" in text:
                return "a NUL character (U+0000)"
            if getattr(found, "sqlstate", None) == "22P05":  # untranslatable character
                return "a character the database cannot store"
        found = getattr(found, "orig", None) or found.__cause__ or found.__context__
    return None
