"""Redirects are never followed by hunter's HTTP clients (an API key, an Authorization header
or a prompt full of customer data would go with the request to wherever one points): this
says where one pointed, for the message that reports it."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit


def redirect_location(headers: Mapping[str, str] | None, request_url: str | None) -> str | None:
    """The redirect's Location resolved against the request's URL, as scheme://host/path:
    without its query (it may carry a token) or any user:password. None when there is none."""
    location = (headers or {}).get("location")
    if not location:
        return None
    try:
        parts = urlsplit(urljoin(request_url or "", location.strip()))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable Location)"
    if not host:
        return parts.path or None
    return f"{parts.scheme}://{host}{port}{parts.path}"


def redirect_host(headers: Mapping[str, str] | None, request_url: str | None) -> str | None:
    """The host (and port) a redirect points to, or None when it names no Location."""
    location = redirect_location(headers, request_url)
    if location is None or "://" not in location:
        return location
    return location.split("://", 1)[1].split("/", 1)[0]


def describe_redirect(
    status: int, headers: Mapping[str, str] | None, request_url: str | None
) -> str:
    """`HTTP 307, a redirect to other.example` (or `... with no Location`)."""
    host = redirect_host(headers, request_url)
    return f"HTTP {status}, a redirect " + (f"to {host}" if host else "with no Location")
