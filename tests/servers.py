"""A real HTTP server on 127.0.0.1 for tests of anything that calls an HTTP API.

Each test sets up routes; the server answers from them and records every request:

    with LoopbackServer() as server:
        server.route("GET", "/v2/search", Reply(json={"ok": True}))
        server.route("POST", "/send", Reply(status=500), Reply(status=200))  # in sequence
        server.route("GET", "/echo", lambda request: Reply(json=request.query))
        ... call server.url + "/v2/search" ...
        assert server.requests[0].headers["authorization"] == "Bearer k"

Or use the `http_server` fixture (import it into a test module, or list this module in a
conftest's `pytest_plugins`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = ["LoopbackServer", "RecordedRequest", "Reply", "http_server"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    raw_path: str = ""

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.json).encode(), headers
        body = self.body.encode() if isinstance(self.body, str) else self.body
        if body:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body, headers


Responder = Reply | Callable[[RecordedRequest], Reply]


class LoopbackServer:
    """A threaded http.server on 127.0.0.1, port chosen by the OS. Unknown routes get 404."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[tuple[str, str], list[Responder]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routes -----------------------------------------------------------------------------
    def route(self, method: str, path: str, *replies: Responder) -> None:
        """Answer method+path with these replies in turn; the last one repeats."""
        if not replies:
            raise ValueError("route needs at least one reply")
        with self._lock:
            self._routes[(method.upper(), path)] = list(replies)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path == path and (method is None or r.method == method.upper())
        ]

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get((request.method, request.path))
            if queue is None:
                return Reply(
                    status=404, json={"error": f"no route {request.method} {request.path}"}
                )
            responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(request) if callable(responder) else responder

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(owner: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw_path=self.path,
            )
            reply = owner._next_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
            payload, headers = reply.encoded()
            try:
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

    return Handler


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A started LoopbackServer, stopped after the test."""
    with LoopbackServer() as server:
        yield server
