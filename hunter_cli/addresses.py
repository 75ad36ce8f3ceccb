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
    return name.strip() or None, canonical_domain(address.lower())


def ascii_domain(domain: str) -> str | None:
    """A domain as DNS and SMTP know it: an IDN's labels as A-labels (IDNA 2008: bücher ->
    xn--bcher-kva, straße -> xn--strae-oqa, not IDNA 2003's strasse, another domain); None
    when it is no valid name (a full-width letter, a label starting with -)."""
    if domain.isascii():
        return domain
    import idna  # httpx's own dependency; only for the rare domain beyond ASCII

    try:
        return str(idna.encode(domain).decode("ascii"))
    except (idna.IDNAError, UnicodeError):
        return None


def unicode_domain(domain: str) -> str:
    """The same domain with its A-labels as Unicode (xn--bcher-kva -> bücher): how entries
    written before addresses were stored in A-labels may hold it."""
    if "xn--" not in domain:
        return domain
    import idna

    try:
        return str(idna.decode(domain))
    except (idna.IDNAError, UnicodeError):
        return domain


def canonical_domain(address: str) -> str:
    """An address with its domain in A-labels, the one form it is stored, keyed, suppressed
    and sent in (kim@bücher.example and kim@xn--bcher-kva.example are one mailbox), and
    which needs no SMTPUTF8 unless the part before the @ is beyond ASCII. Left as it is
    when that is not possible (the address checks then say why)."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    converted = ascii_domain(domain)
    return address if converted is None else f"{local}@{converted}"


def address_forms(address: str) -> list[str]:
    """The stored forms of one address to look it up by: as it is now stored (A-labels),
    and with a Unicode domain, as entries from before were."""
    local, at, domain = address.rpartition("@")
    other = f"{local}@{unicode_domain(domain)}" if at else address
    return [address] if other == address else [address, other]


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


# ASCII characters an address's local part may hold unquoted (RFC 5322 atext).
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-")
_LDH = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _international(char: str) -> bool:
    """A non-ASCII character an internationalised address (RFC 6531) may hold: a letter, a
    mark or a digit, not punctuation (an ideographic full stop) or a symbol."""
    return unicodedata.category(char)[0] in "LMN"


def email_syntax_problem(address: str) -> str | None:
    """Why a cleaned, lower-cased address is not one the send path delivers, or None. The
    one rule for the lead store, the outbox and the suppression list: what import accepts is
    what sending takes. Letters beyond ASCII (josé@, an IDN domain) are accepted: they go out
    with SMTPUTF8, which the SMTP server must offer. Look-alike forms (full-width letters, an
    ideographic full stop) are refused: NFKC would change them."""
    if len(address) > 254 or address.count("@") != 1:
        return "" if "@" not in address else "not one @"
    local, domain = address.split("@")
    if not local or not domain:
        return "nothing before or after the @"
    if not address.isascii() and unicodedata.normalize("NFKC", address) != address:
        return "a look-alike (full-width or compatibility) character"
    if len(local) > 64:
        return "more than 64 characters before the @"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "a dot at the start or end of a part, or two in a row"
    if any(c != "." and c not in _ATEXT and (c.isascii() or not _international(c)) for c in local):
        return "a character an address cannot have"
    labels = domain.split(".")
    if len(labels) < 2:
        return "a domain without a dot"
    for label in labels:
        ascii_label = ascii_domain(label)  # canonical_domain converted a valid IDN already
        if ascii_label is None or not _LDH.match(ascii_label):
            return (
                "a domain part that starts or ends with -"
                if label.startswith("-") or label.endswith("-")
                else "a domain part that is not a valid name"
            )
    top = labels[-1]
    if top.isascii() and not (top.isalpha() or top.startswith("xn--")):
        return "a top-level domain that is not a name"
    return None
