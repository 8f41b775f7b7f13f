"""A tiny HTTP server on 127.0.0.1 that answers from a route table and records every request.

Routes map (method, path) to a handler `StubRequest -> StubResponse`, or to a list of canned responses
served in turn (the last one repeats), which is how tests script "503, 503, then 200".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class StubRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class StubResponse:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> StubResponse:
        return cls(status, json.dumps(data), {"Content-Type": "application/json; charset=UTF-8", **headers})


Handler = Callable[[StubRequest], StubResponse]


class HttpStub:
    def __init__(self) -> None:
        self.requests: list[StubRequest] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        stub = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = StubRequest(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                      dict(self.headers.items()), self.rfile.read(length) if length else b"",
                                      time.monotonic())
                with stub._lock:
                    stub.requests.append(request)
                    handler = stub._routes.get((self.command, parts.path))
                response = handler(request) if handler else StubResponse(404, f"no route for {parts.path}")
                if response.delay:
                    time.sleep(response.delay)
                body = response.body.encode() if isinstance(response.body, str) else response.body
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, handler: Handler | StubResponse | Sequence[StubResponse], method: str = "GET") -> None:
        if isinstance(handler, StubResponse):
            handler = [handler]
        if not callable(handler):
            queue = list(handler)

            def scripted(_: StubRequest, queue: list[StubResponse] = queue) -> StubResponse:
                return queue.pop(0) if len(queue) > 1 else queue[0]

            handler = scripted
        with self._lock:
            self._routes[(method, path)] = handler

    def requests_to(self, path: str) -> list[StubRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HttpStub:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
