"""E-mail addresses as people paste them: the one cleaner the lead store (a lead's identity) and
the send path (a message's recipient, the suppression list) share, so they agree."""

from __future__ import annotations

import re
import unicodedata
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote

from hunter_cli.text_hygiene import describe_character, forbidden_character

# Most addresses need no cleaning: checked first, as a batch can hold tens of thousands.
_PLAIN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]*[A-Za-z0-9]")
# What a copy from a mail client, a web page or a spreadsheet cell leaves around an address.
_AROUND = " \t\r\n,;"
_QUOTES = "\"'`"
_MAILTO = "mailto:"
# `Name <address>`, also when the name has an unquoted comma (`Lee, Ann <ann@x.example>`, as
# Outlook writes it), which parseaddr would read as two addresses.
_NAMED = re.compile(r"([^<>]*)<([^<>\s]+@[^<>\s]+)>")
# What looks like an address, outside quoted display names: two of them are two addresses.
_ADDRESS_LIKE = re.compile(r'[^\s<>,;"]+@[^\s<>,;"]+')
_QUOTED = re.compile(r'"[^"]*"')


def _unwrapped(text: str) -> str:
    """Without the separators and the quotes around it: `"ann@x.example,"` -> ann@x.example
    (a quoted display name, as in `"Lee, Ann" <ann@x.example>`, stays)."""
    while True:
        before = text
        text = text.strip(_AROUND)
        if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
            text = text[1:-1]
        if text == before:
            return text


def _cleaned(text: str) -> str:
    """Text as pasted without what comes along with it: invisible format characters (zero-
    width spaces and joiners, a BOM, a soft hyphen: never part of an address), separators
    and quotes around it, and a mailto: link's wrapping."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = _unwrapped(unicodedata.normalize("NFC", text))
    if text[: len(_MAILTO)].lower() == _MAILTO:
        # A link: the address is what comes before its ?subject=..., percent-decoded.
        text = _unwrapped(unquote(text[len(_MAILTO) :].split("?", 1)[0]))
    return text


def addresses_in(raw: Any) -> list[str]:
    """The pieces of text that look like addresses, in order and each once (whatever its
    case): one for an address however pasted (`Lee, Ann <ann@x.example>` included), two for
    `a@x.example, b@y.example`, none for text without an @."""
    if raw is None:
        return []
    text = str(raw).strip()
    if _PLAIN.fullmatch(text):
        return [text]
    found: dict[str, str] = {}
    for piece in _ADDRESS_LIKE.findall(_QUOTED.sub('""', _cleaned(text))):
        piece = piece.rstrip(".:")  # a sentence's full stop is no part of it
        found.setdefault(piece.lower(), piece)
    return list(found.values())


def parse_email_address(raw: Any) -> tuple[str | None, str]:
    """(display name, address) of an address as pasted: `Ann <Ann@X.example>` gives
    ("Ann", "ann@x.example"); `mailto:ann@x.example?subject=hi`, `<ann@x.example>;`,
    `"ann@x.example,"` and an address with a zero-width space in it give (None,
    "ann@x.example"). The address is lower-case, "" when there is none; whether it is a valid
    one is for the caller to judge (`address_problem` first: of two addresses, this gives the
    first). Text with a control character inside is given back as it is, never cleaned into
    an address."""
    if raw is None:
        return None, ""
    text = str(raw).strip()
    if _PLAIN.fullmatch(text):
        return None, text.lower()
    if forbidden_character(text):
        # Cleaning around it would drop it from `<ann@x.example>\x1b` or `Ann\x00 <...>`
        # and make a valid address of text that holds none.
        return None, text.lower()
    text = _cleaned(text)
    named = _NAMED.fullmatch(text)
    if named:
        name, address = _unwrapped(named[1]), named[2]
    else:
        name, address = parseaddr(text)
    # A sentence's full stop after an address is no part of it.
    address = _unwrapped((address or text).strip("<>")).rstrip(".:")
    return name.strip() or None, address.lower()


def address_character_problem(raw: Any) -> str | None:
    """Why text given as an address cannot be one for a character in it: a control
    character (a NUL, an escape sequence's ESC, a tab inside it) or a lone surrogate, which
    the lead store, the send path and the suppression list all refuse; None when it has none
    (the whitespace a pasted cell brings around it is no part of it)."""
    char = forbidden_character("" if raw is None else str(raw).strip())
    return None if char is None else describe_character(char)


def address_problem(raw: Any) -> str | None:
    """Why text given as one address cannot be one, before it is cleaned: a character no
    address has (`address_character_problem`), or more than one address in it, which the
    cleaner would cut down to the first (`a@x.example, b@y.example` is two people: the
    second must not be dropped without a word). None when neither."""
    character = address_character_problem(raw)
    if character is not None:
        return character
    if len(addresses_in(raw)) > 1:
        return "more than one address"
    return None
