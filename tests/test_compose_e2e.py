"""docker-compose.yml without Docker: its `migrate`, `api` and `worker` services started as local
processes with the compose file's own commands and environment (hosts rewritten to 127.0.0.1, a
fresh database, the loopback S3 mirror as PMC's bucket), then a harvest through the API, a query and
an export, as a user of `docker compose up` would do them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from support.s3_mirror import MIRROR_SOURCE, admin_client, moto_endpoint, unique_bucket  # noqa: F401
from support.worker_harness import REDIS_URL, ROOT, drop_prefix, new_prefix, wait_until

from harvester.sources.mirror_builder import build_mirror, load_articles

COMPOSE = ROOT / "docker-compose.yml"


def _interpolate(value, env: dict[str, str]):
    from test_compose_conformance import interpolate

    return interpolate(str(value), env)


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:  # noqa: F811
    name = unique_bucket()
    build_mirror(admin_client(moto_endpoint), load_articles(MIRROR_SOURCE), bucket=name,
                 inventory_at=datetime(2026, 11, 25, tzinfo=UTC))
    return name


@pytest.fixture
def fresh_database():
    """A new, empty database (no schema: the `migrate` service makes it)."""
    from conftest import _admin_url

    admin_url = _admin_url()
    name = f"figmine_compose_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url), name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One compose service as a local process: its command (figmine → this interpreter's figmine) and
    its environment, with the compose hosts pointed at this machine."""

    def __init__(self, name: str, spec: dict, variables: dict[str, str], overrides: dict[str, str], tmp):
        self.name = name
        env = {k: _interpolate(v, variables) for k, v in (spec.get("environment") or {}).items()}
        env = {k: v.replace("@postgres:5432", "@127.0.0.1:5432").replace("redis://redis:6379", "redis://127.0.0.1:6379")
               for k, v in env.items()}
        self.compose_env = dict(env)
        self.env = {**os.environ, **env, **overrides,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        command = [_interpolate(a, variables) for a in spec["command"]]
        assert command[0] == "figmine", f"{name}: {command}"
        self.command = [sys.executable, "-m", "figmine", *command[1:]]
        self.log = open(tmp / f"{name}.log", "ab")
        self.proc: subprocess.Popen | None = None

    def rewrite(self, old: str, new: str) -> None:
        self.command = [new if a == old else a for a in self.command]

    def run_once(self, timeout: float = 120) -> None:
        done = subprocess.run(self.command, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                              timeout=timeout)
        assert done.returncode == 0, f"{self.name} exited {done.returncode}:\n{self.tail()}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def problem(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.name} exited {self.proc.returncode}:\n{self.tail()}"
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        return open(self.log.name, errors="replace").read()[-3000:]


def test_compose_services_as_processes_harvest_query_and_export(fresh_database, moto_endpoint, bucket,  # noqa: F811
                                                                 tmp_path):
    server_url, db_name = fresh_database
    spec = yaml.safe_load(COMPOSE.read_text())["services"]
    # what .env would say; the local server trusts postgres@127.0.0.1
    variables = {"POSTGRES_USER": server_url.username or "postgres", "POSTGRES_PASSWORD": "unused-with-trust",
                 "POSTGRES_DB": db_name, "FIGMINE_BLOB_URL": str(tmp_path / "blobs")}
    prefix = new_prefix()
    overrides = {  # the test's own, not the deployment's: the mirror, a private broker namespace, a home
        "FIGMINE_PMC_S3_ENDPOINT": moto_endpoint, "FIGMINE_PMC_BUCKET": bucket, "FIGMINE_USE_EUROPEPMC": "false",
        "FIGMINE_BROKER_KEY_PREFIX": prefix, "FIGMINE_HOME": str(tmp_path / "home"), "FIGMINE_RETRIES": "2",
    }
    services = {name: Service(name, spec[name], variables, overrides, tmp_path) for name in ("migrate", "api", "worker")}
    api_env = services["api"].compose_env
    assert api_env["DATABASE_URL"].endswith(f"@127.0.0.1:5432/{db_name}")
    assert api_env["FIGMINE_BROKER_URL"] == "redis://127.0.0.1:6379/0" == REDIS_URL
    port = _free_port()
    services["api"].rewrite("8000", str(port))
    services["api"].rewrite("0.0.0.0", "127.0.0.1")
    try:
        # depends_on: migrate must complete before api and worker start
        services["migrate"].run_once()
        key = subprocess.run([sys.executable, "-m", "figmine", "apikey", "create", "compose-test"],
                             env=services["api"].env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert key.returncode == 0, key.stderr
        token = key.stdout.strip().splitlines()[-1]
        services["worker"].start()
        services["api"].start()
        base = f"http://127.0.0.1:{port}"
        problems = lambda: services["api"].problem() or services["worker"].problem()  # noqa: E731

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 90, "the API answers /readyz", every=0.5, alive=problems)
        headers = {"X-API-Key": token}
        started = httpx.post(f"{base}/harvests", headers=headers, timeout=30,
                             json={"pmcid": ["PMC2924383", "PMC3532326", "PMC2958805", "PMC9999999"]})
        assert started.status_code == 202, started.text
        run_url = base + started.json()["url"]

        status: dict = {}

        def finished() -> bool:
            status.update(httpx.get(run_url, headers=headers, timeout=10).json())
            return status["status"] != "running"

        wait_until(finished, 180, "the harvest run finishes on the worker", every=1, alive=problems)
        assert status["status"] == "finished", status
        assert (status["total"], status["done"], status["failed"]) == (4, 3, 1), status
        assert any(e["item"] == "PMC9999999" for e in status["recent_errors"]), status["recent_errors"]

        figures = httpx.get(f"{base}/figures", params={"total": "true"}, timeout=30).json()
        assert figures["items"] and {f["pmcid"] for f in figures["items"]} <= {"PMC2924383", "PMC3532326", "PMC2958805"}
        assert figures["total"] >= 10

        export = httpx.post(f"{base}/exports", headers=headers, timeout=30,
                            json={"format": "jsonl", "with_images": False})
        assert export.status_code == 202, export.text
        export_url = f"{base}/exports/{export.json()['id']}"
        done: dict = {}

        def exported() -> bool:
            done.update(httpx.get(export_url, headers=headers, timeout=10).json())
            return done["status"] not in ("queued", "running")

        wait_until(exported, 120, "the export finishes", every=0.5, alive=problems)
        assert done["status"] == "finished", done
        shard = next(f for f in done["files"] if f["name"].endswith(".jsonl"))
        body = httpx.get(httpx.URL(base).join(shard["url"]), headers=headers, timeout=30)
        assert body.status_code == 200 and len(body.text.splitlines()) == figures["total"]
    finally:
        for service in services.values():
            service.stop()
        drop_prefix(prefix)
