"""A loopback S3 (moto in server mode) holding a bucket-layout mirror, and a fault-injecting proxy.

Import the fixtures into a test module explicitly:

    from support.s3_mirror import moto_endpoint  # noqa: F401  (pytest finds fixtures by name)

`moto_endpoint` is one server per test session. Each test module builds its own uniquely named bucket,
so tests elsewhere that reset moto's in-process state between their own tests cannot pull objects out
from under a module half-way through.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MIRROR_SOURCE = FIXTURES / "s3_mirror_src"


def admin_client(endpoint: str) -> Any:
    """A signed client (fake credentials) for writing to the loopback server."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 2}),
    )


def mirror_bucket(endpoint: str, *, broken_pmcid: str, extra: list | tuple = ()) -> str:
    """A fresh bucket in the layout of `pmc-oa-opendata` holding the fixture articles, a copy of
    PMC3532326 under `broken_pmcid` whose figure has a wrong md5, and `extra` articles."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from harvester.sources.mirror_builder import build_mirror, load_articles

    base = load_articles(MIRROR_SOURCE)
    small = next(a for a in base if a.pmcid == "PMC3532326")
    broken = replace(small, pmcid=broken_pmcid, md5_overrides={"1756-0500-5-615-2.jpg": "0" * 32})
    name = unique_bucket()
    build_mirror(admin_client(endpoint), [*base, broken, *extra], bucket=name,
                 inventory_at=datetime(2026, 11, 25, tzinfo=UTC))
    return name


def unique_bucket(stem: str = "pmc-oa-opendata") -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# -- fault-injecting proxy -------------------------------------------------------------------------

_S3_ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


@dataclass
class Fault:
    """Misbehave on the first `times` requests whose path matches `path` (a regex)."""

    path: str
    kind: str = "status"  # status | delay | corrupt | truncate
    status: int = 500
    delay: float = 0.0
    times: int = 1
    method: str = "GET"
    hits: int = 0


@dataclass
class FaultProxy:
    """Reverse proxy on 127.0.0.1 in front of `upstream`, injecting the faults it is given."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        up = urlsplit(self.upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urlsplit(self.path).path
                fault = proxy._take_fault(self.command, path)
                if fault is not None and fault.kind == "status":
                    code, message = _S3_ERRORS.get(fault.status, ("InternalError", "injected"))
                    payload = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                               f"<Message>{message}</Message></Error>").encode()
                    return self._reply(fault.status, {"Content-Type": "application/xml"}, payload)
                if fault is not None and fault.kind == "delay":
                    time.sleep(fault.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    upstream = conn.getresponse()
                    data = upstream.read()
                    out_headers = {k: v for k, v in upstream.getheaders()
                                   if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                    status = upstream.status
                finally:
                    conn.close()
                if fault is not None and fault.kind == "corrupt" and data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                    # Like the real bucket's older objects: no checksum header for botocore to verify,
                    # so only figmine's md5 check can notice.
                    out_headers = {k: v for k, v in out_headers.items() if not k.lower().startswith("x-amz-checksum")}
                if fault is not None and fault.kind == "truncate" and data:
                    return self._reply(status, out_headers, data[: len(data) // 2], declared=len(data))
                self._reply(status, out_headers, data)

            def _reply(self, status: int, headers: dict[str, str], data: bytes, declared: int | None = None) -> None:
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(declared if declared is not None else len(data)))
                    if declared is not None:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    if declared is not None:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.seen.append((method, path))
            for fault in self.faults:
                if fault.method == method and fault.hits < fault.times and re.search(fault.path, path):
                    fault.hits += 1
                    return fault
        return None

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, path_regex: str, method: str = "GET") -> int:
        with self._lock:
            return sum(1 for m, p in self.seen if m == method and re.search(path_regex, p))

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
