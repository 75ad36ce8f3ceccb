"""`api_call`: one HTTP request with httpx, its JSON answer and selected fields of it.

The auth secret is read from an environment variable named by the recipe and is scrubbed
from everything this step returns or raises (output, meta, errors) and from httpx's log.
Retrying is the runner's job: failures worth retrying raise TransientStepError.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from hunter_cli.components.actions.data_processing import MISSING, describe, lookup
from hunter_cli.components.base import StepContext, StepError, StepTimeout, TransientStepError
from hunter_cli.providers.retry_after import describe_wait, parse_retry_after
from hunter_cli.scrub import LOG_FILTER, SecretScrubber

__all__ = ["ApiCall", "HttpTransientError", "parse_retry_after"]

DEFAULT_TIMEOUT = 30.0
TEXT_LIMIT = 10_000
#: The largest response a step takes: its data is kept in the execution's record, and one
#: 50 MB answer made a 105 MB workspace database and a 528 MB process.
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
EXCERPT_LIMIT = 200
REDACTED = "[REDACTED]"
# Response headers worth passing on: what the body is, when to come back, where it moved
# (redirects are not followed, so an Authorization header never travels to another host).
SELECTED_HEADERS = ("content-type", "retry-after", "location")
AUTH_TYPES = ("bearer", "basic", "header", "query")


class HttpTransientError(TransientStepError):
    """A 429, a 5xx or a connection failure. `retry_after` is the server's Retry-After in
    seconds (None if it sent none), for the runner's backoff to honour."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


# --- secrets -----------------------------------------------------------------------------------


def _apply_auth(
    auth: Any,
    headers: dict[str, str],
    query: dict[str, Any],
    protected: frozenset[str] = frozenset(),
) -> SecretScrubber:
    """Put the secret where the auth type says; return what scrubs it from everything else.
    A variable in `protected` (hunter's own credentials) is refused: a shared recipe must not
    be able to post the AI key or the SMTP password to a host of its choosing."""
    if auth is None:
        return SecretScrubber([])
    if not isinstance(auth, Mapping):
        raise StepError(f"auth must be a mapping with type and env, got {describe(auth)}")
    kind, env, name = auth.get("type"), auth.get("env"), auth.get("name")
    if kind not in AUTH_TYPES:
        raise StepError(f"auth.type must be one of {', '.join(AUTH_TYPES)}, got {kind!r}")
    if not isinstance(env, str) or not env:
        raise StepError("auth.env must name the environment variable that holds the secret")
    if env in protected:
        raise StepError(
            f"auth.env {env} holds one of hunter's own credentials (or is named in "
            "hunter.toml), which a recipe may not send to the URL it chooses; if this recipe "
            f'is yours and should, add it to hunter.toml: [http] allow_env = ["{env}"]'
        )
    secret = os.environ.get(env)
    if not secret:
        raise StepError(
            f"auth: environment variable {env} is not set (it must hold the "
            f"{kind} secret for this API)"
        )
    if kind in ("header", "query") and (not isinstance(name, str) or not name):
        raise StepError(f"auth.name is required for {kind} auth: the {kind} that carries it")
    secrets = [secret]
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    elif kind == "basic":
        user, sep, password = secret.partition(":")
        if not sep:
            raise StepError(f"auth: {env} must hold user:password for basic auth")
        token = base64.b64encode(secret.encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
        secrets += [token, password]
    elif kind == "header":
        headers[str(name)] = secret
    else:
        query[str(name)] = secret
    return SecretScrubber(secrets)


# --- the action ------------------------------------------------------------------------------


def _target(method: str, url: str) -> str:
    """The request as messages show it: no query string (it may carry a secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{method} {url}"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{method} {parts.scheme}://{host}{parts.path or '/'}"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty body)"
    return flat if len(flat) <= EXCERPT_LIMIT else flat[: EXCERPT_LIMIT - 3] + "..."


def _string_mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StepError(f"{name} must be a mapping, got {describe(value)}")
    return {str(k): v for k, v in value.items()}


def _read_capped(response: Any, target: str) -> bytes:
    """The body, read as it arrives and refused once it passes MAX_RESPONSE_BYTES (a
    Content-Length that says so is refused before reading any of it)."""
    mb = MAX_RESPONSE_BYTES / (1024 * 1024)
    limit = f"{mb:g} MB" if mb >= 1 else f"{MAX_RESPONSE_BYTES:,} bytes"
    refusal = (
        f"{target}: the response is larger than {limit}, the most a step keeps (its output "
        "is stored with the run): ask the API for less, e.g. a smaller page or fewer fields"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise StepError(refusal)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise StepError(refusal)
    return bytes(body)


class ApiCall:
    """GET/POST/... one URL; the output is the status, the JSON (or text) and extracted
    fields. Other actions and providers do their own HTTP; this is the recipe's escape hatch."""

    def run(self, params: dict[str, Any], ctx: StepContext) -> Any:
        import httpx

        method = str(params.get("method") or "GET").upper()
        url = params.get("url")
        if not isinstance(url, str) or not url.strip().lower().startswith(("http://", "https://")):
            raise StepError(f"url must be an http:// or https:// URL, got {describe(url)}")
        url = url.strip()
        headers = {k: str(v) for k, v in _string_mapping(params.get("headers"), "headers").items()}
        query = {
            k: v for k, v in _string_mapping(params.get("query"), "query").items() if v is not None
        }
        extract = _string_mapping(params.get("extract"), "extract")
        for name, path in extract.items():
            if not isinstance(path, str) or not path:
                raise StepError(f"extract.{name} must be a dotted path, got {describe(path)}")
        protected = ctx.settings.protected_env() if ctx.settings is not None else frozenset()
        scrub = _apply_auth(params.get("auth"), headers, query, protected)
        target = scrub.text(_target(method, url))
        content: bytes | None = None
        if params.get("json") is not None:
            # Encoded here so values such as Decimal from earlier steps do not break httpx.
            content = json.dumps(params["json"], default=str).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"

        remaining = ctx.remaining()
        timeout = DEFAULT_TIMEOUT if remaining is None else max(0.001, remaining)
        ctx.meta["http"] = {"request": target}
        LOG_FILTER.add(scrub)
        try:
            # Merged into the URL's own query string: httpx's params= would replace it.
            full_url = httpx.URL(url).copy_merge_params(query) if query else url
            with (
                httpx.Client(timeout=timeout, follow_redirects=False) as client,
                client.stream(method, full_url, headers=headers, content=content) as response,
            ):
                body = _read_capped(response, target)
        except httpx.TimeoutException:
            raise StepTimeout(f"{target} timed out after {round(timeout, 1):g} s") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise StepError(f"{target}: invalid request: {scrub.text(str(exc))}") from None
        except httpx.TransportError as exc:
            detail = scrub.text(str(exc)) or type(exc).__name__
            raise HttpTransientError(f"{target} failed: {detail}") from None
        except httpx.HTTPError as exc:
            raise StepError(f"{target} failed: {scrub.text(str(exc))}") from None
        except (UnicodeEncodeError, ValueError, TypeError) as exc:
            # e.g. a header value outside latin-1: a recipe problem, not worth a retry.
            raise StepError(
                f"{target}: could not send the request: {scrub.text(str(exc))}"
            ) from None
        finally:
            LOG_FILTER.remove(scrub)

        status = response.status_code
        ctx.meta["http"].update(
            status=status, elapsed_ms=int(response.elapsed.total_seconds() * 1000)
        )
        # Scrubbed before any excerpt or cap: a key cut in two by them would not match whole.
        text = scrub.text(body.decode(response.encoding or "utf-8", errors="replace"))
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            wait = f" (retry after {describe_wait(retry_after)})" if retry_after is not None else ""
            message = (
                f"HTTP {status} {response.reason_phrase} from {target}{wait}: {_excerpt(text)}"
            )
            raise HttpTransientError(scrub.text(message), status=status, retry_after=retry_after)
        if status >= 400:
            raise StepError(
                scrub.text(
                    f"HTTP {status} {response.reason_phrase} from {target}: {_excerpt(text)}"
                )
            )

        if 300 <= status < 400 and status != 304:
            from hunter_cli.providers.redirects import redirect_location

            # Not followed (the request's auth would go along), and not a failure either: the
            # step goes on, but a recipe expecting the JSON behind it should hear why it has none.
            location = redirect_location(response.headers, str(response.request.url))
            to = f" to {scrub.text(location)}" if location else " with no Location"
            ctx.warnings.append(
                f"step {ctx.step_id}: {target} answered HTTP {status} {response.reason_phrase}, "
                f"a redirect{to}, which was not followed (output.headers.location has it)"
            )
        content_type = response.headers.get("content-type", "")
        data: Any = None
        is_json = False
        if body and ("json" in content_type.lower() or not content_type):
            with contextlib.suppress(ValueError):  # a body that only claims to be JSON
                data, is_json = json.loads(body), True
        if body and "json" in content_type.lower() and not is_json:
            ctx.warnings.append(
                f"step {ctx.step_id}: {target} answered {content_type!r} but the body is not "
                "JSON: it is in output.text"
            )
        extracted = {}
        missing = []
        for name, path in extract.items():
            found = lookup(data, path) if is_json else MISSING
            extracted[name] = None if found is MISSING else found
            if found is MISSING:
                missing.append(f"{name} ({path})")
        if missing:  # null could be a misspelt path as well as an absent value: say which
            ctx.warnings.append(
                f"step {ctx.step_id}: extract found nothing at {', '.join(missing)} in the "
                "response (`hunter executions show ID --step " + ctx.step_id + "` shows it)"
            )
        output: dict[str, Any] = {
            "status": status,
            "data": data,
            "headers": {h: response.headers[h] for h in SELECTED_HEADERS if h in response.headers},
            "extracted": extracted,
        }
        if not is_json:
            output["text"] = text[:TEXT_LIMIT]
        # A server that echoes the key back must not get it into the run's records.
        return scrub.value(output)

    def plan(self, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from hunter_cli.components.actions.request_display import display_body, display_request
        from hunter_cli.recipe.templates import is_template

        method = str(params.get("method") or "GET").upper()
        url = str(params.get("url") or "")
        try:
            parts = urlsplit(url)
            host = parts.hostname or url
            if parts.port:
                host = f"{host}:{parts.port}"
        except ValueError:
            host = url
        plan: dict[str, Any] = {"provider": f"http:{method} {host}"}
        auth = params.get("auth")
        # What would be sent, for people: the whole URL and the body, secrets hidden.
        query = params.get("query")
        plan["request"] = display_request(
            method, url, query if isinstance(query, Mapping) else None, auth
        )
        body = display_body(params.get("json"))
        if body is not None:
            plan["body"] = body
        problems = []  # what would fail the run at this step, found without running it
        if not is_template(url) and not url.strip().lower().startswith(("http://", "https://")):
            problems.append(f"url must be an http:// or https:// URL, got {describe(url)}")
        if isinstance(auth, Mapping) and isinstance(auth.get("env"), str):
            # Say whether the run would find its secret, never what it is.
            env = auth["env"]
            plan["auth_env"] = {"name": env, "set": bool(os.environ.get(env))}
            if ctx.settings is not None and env in ctx.settings.protected_env():
                plan["auth_env"]["refused"] = True
                plan["request"] += (
                    f"\n(refused: {env} is one of hunter's own credentials; [http] allow_env "
                    "in hunter.toml lets it through)"
                )
                problems.append(f"auth.env {env} is one of hunter's own credentials")
            elif not plan["auth_env"]["set"]:
                problems.append(f"auth: environment variable {env} is not set")
        if problems:
            plan["problem"] = "; ".join(problems)
        return plan
