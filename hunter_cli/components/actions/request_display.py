"""An api_call's request as --plan shows it: method, the whole URL (path and query, with the
step's `query` and a query-auth parameter as they would be added), and a short body, with
secrets hidden as the audit trail hides them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from hunter_cli.audit import REDACTED, is_secret_key, redact

__all__ = ["BODY_LIMIT", "display_body", "display_request", "hide_secrets"]

BODY_LIMIT = 200


def _hidden_pair(pair: str) -> str:
    """One `name=value` of a query string, its value hidden if the name looks secret."""
    name, sep, _ = pair.partition("=")
    return f"{name}={REDACTED}" if sep and is_secret_key(unquote_plus(name)) else pair


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as httpx sends them
    return str(value)


def display_request(
    method: str, url: str, query: Mapping[str, Any] | None = None, auth: Any = None
) -> str:
    """``POST https://api.example.com/v1/x?page=2&api_key=[REDACTED]``: what the step would
    request, without any secret it would carry (a password in the URL, a secret-looking query
    value, the query-auth parameter)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{method} {url}"
    if not parts.scheme or not host:
        return f"{method} {url}"  # not a URL yet (a template left for the run)
    netloc = f"{host}:{port}" if port else host
    if parts.username:
        netloc = (
            f"{parts.username}:{REDACTED}@{netloc}"
            if parts.password
            else f"{parts.username}@{netloc}"
        )
    pairs = [_hidden_pair(pair) for pair in parts.query.split("&") if pair]
    extra = [(str(k), _query_value(v)) for k, v in (query or {}).items() if v is not None]
    pairs += [_hidden_pair(pair) for pair in urlencode(extra).split("&") if pair]
    if isinstance(auth, Mapping) and auth.get("type") == "query" and auth.get("name"):
        pairs.append(f"{auth['name']}={REDACTED}")
    return f"{method} " + urlunsplit((parts.scheme, netloc, parts.path, "&".join(pairs), ""))


def display_body(body: Any) -> str | None:
    """The JSON body as one short line, secret-looking keys hidden; None without a body."""
    if body is None:
        return None
    text = json.dumps(redact(body), ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= BODY_LIMIT else text[: BODY_LIMIT - 1] + "…"


def hide_secrets(params: Any) -> Any:
    """A step's rendered parameters fit to show (--plan --json): values under secret-looking
    keys hidden, and in any URL its password and secret-looking query values; `auth` names an
    environment variable, not a secret, and is shown as it is."""
    if isinstance(params, Mapping):
        return {
            k: (
                v
                if k == "auth"
                else REDACTED
                if isinstance(k, str) and is_secret_key(k) and v
                else hide_secrets(v)
            )
            for k, v in params.items()
        }
    if isinstance(params, list | tuple):
        return [hide_secrets(v) for v in params]
    if isinstance(params, str) and "://" in params:
        return display_request("", params)[1:]  # the URL, without a method before it
    return params
