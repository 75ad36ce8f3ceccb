"""Did-you-mean: the known name a misspelt one most likely meant, for error messages."""

from __future__ import annotations

from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name a misspelt one most likely meant, or None if none is close."""
    import difflib  # only on the way to an error message

    choices = list(known)
    # Only the case differs (maxlength for maxLength): difflib would still rank it, but
    # not always first.
    same = [choice for choice in choices if choice.casefold() == name.casefold()]
    if same:
        return same[0]
    # A typo rarely touches the first letter; a different word often shares the rest (FETCH
    # is not a misspelt PATCH).
    alike = [choice for choice in choices if choice[:1].casefold() == name[:1].casefold()]
    close = difflib.get_close_matches(name, alike, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the known name closest to a misspelt one, or ''."""
    close = closest(name, known)
    return f" (did you mean {close!r}?)" if close else ""


def bare_did_you_mean(name: str, known: Iterable[str]) -> str:
    """The same without quotes, for names a message shows bare ([providers.hunter_io], a
    hunter.toml key)."""
    close = closest(name, known)
    return f" (did you mean {close}?)" if close else ""
