"""The request middleware (pure ASGI, so it costs little): request id, metrics, access log, last-resort 500.

- `X-Request-ID`: echoed when the client sent a sane one, else a new uuid4; set on every response and
  on every log line written while answering.
- Metrics and the access log use the route template (`/figures/{figure_id}`), "<unmatched>" for 404s
  of unknown paths, so label cardinality stays bounded.
- An exception no handler took becomes a problem+json 500 here (with the request id), never a
  traceback on the wire.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.json_logs import request_id_var
from api.metrics import ApiMetrics
from api.problems import Problem, problem_response

access_log = logging.getLogger("figmine.api.access")
error_log = logging.getLogger("figmine.api")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID_RE.match(text) else None
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        self.metrics.in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error answering %s %s", scope.get("method"), scope.get("path"))
            if not response_started:
                response = problem_response(scope, Problem(500, "internal error; quote the request id when reporting it"))
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.observe(method, template, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d", method, template, status,
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope.get("path"),
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )
            request_id_var.reset(token)
