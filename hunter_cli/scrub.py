"""Keeping secrets out of text: a scrubber for every form a secret takes on the wire, and a
logging filter that applies the active scrubbers to the HTTP libraries' log records."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from hunter_cli.audit import REDACTED

#: The shortest piece of a cut-off secret that is still removed from an end of a text.
#: Shorter pieces are as likely to be ordinary words ("groq could not be reached" lost its
#: first word to a key ending in "groq") and tell too little of a key to matter.
MIN_PARTIAL = 8


class SecretScrubber:
    """Replaces every form a secret takes on the wire (raw, URL-encoded) by a marker."""

    def __init__(self, secrets: list[str]) -> None:
        forms = {form for s in secrets if s for form in (s, quote(s, safe=""), quote_plus(s))}
        # Longest first, so a secret is replaced whole before any part of it could be.
        self.forms = sorted(forms, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(f) for f in self.forms)) if self.forms else None
        )

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        value = self._pattern.sub(REDACTED, value)
        # A secret cut in two by an excerpt or a size cap (a 200-character error, a 10,000-
        # character body) survives whole-secret matching: its surviving end goes too.
        for form in self.forms:
            for size in range(len(form) - 1, MIN_PARTIAL - 1, -1):
                if value.endswith(form[:size]):
                    value = value[:-size] + REDACTED
                    break
                if value.startswith(form[-size:]):
                    value = REDACTED + value[size:]
                    break
        return value

    def value(self, value: Any) -> Any:
        """The same, through dicts and lists."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


class _LogScrubFilter(logging.Filter):
    """httpx logs each request's URL at INFO; with query-parameter auth that URL holds the
    secret. While a request is under way its scrubber is active here."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._active: dict[int, SecretScrubber] = {}

    def add(self, scrubber: SecretScrubber) -> None:
        with self._lock:
            self._active[id(scrubber)] = scrubber

    def remove(self, scrubber: SecretScrubber) -> None:
        with self._lock:
            self._active.pop(id(scrubber), None)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            scrubbers = list(self._active.values())
        if scrubbers:
            message = original = record.getMessage()
            for scrubber in scrubbers:
                message = scrubber.text(message)
            if message != original:
                record.msg, record.args = message, None
        return True


LOG_FILTER = _LogScrubFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(LOG_FILTER)
