"""The deployment files say only what figmine understands: every command in docker-compose.yml is a
real `figmine` command with real options (or the server of that service's image), every variable is
one the settings or the code read (or a third party's), and the compose file and images have the
services, checks and properties the deployment needs. Where a Docker engine exists, also run
`docker compose config` (see README, "Deployment")."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import typer
import yaml

from figmine.cli import app
from figmine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
# third parties' variables: their images (postgres, minio), boto3, the NVIDIA container runtime
THIRD_PARTY = re.compile(r"^(POSTGRES_|MINIO_|AWS_|NVIDIA_|CUDA_)")
# services whose command is their image's own server
SERVERS = {"redis": "redis-server", "minio/minio": "server"}
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the error: a placeholder here)."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        return f"<{name}>"

    return _VAR.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def settings_variables() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "") or ""
    return {(field.alias or f"{prefix}{name}").upper() for name, field in Settings.model_fields.items()}


def variables_read_by_code() -> set[str]:
    """Names the code reads from the environment outside the settings object (captions, api, store)."""
    pattern = re.compile(r"""(?:environ|env)\.get\(\s*["']([A-Z][A-Z0-9_]+)["']|environ\[\s*["']([A-Z][A-Z0-9_]+)["']\]""")
    found: set[str] = set()
    for package in ("api", "captions", "figmine", "harvester", "pipeline", "store", "subfigure_detector", "workers"):
        for path in (ROOT / package).rglob("*.py"):
            for m in pattern.finditer(path.read_text(errors="replace")):
                found.add(m.group(1) or m.group(2))
    return found


def known_variable(name: str) -> bool:
    return name in settings_variables() or name in variables_read_by_code() or bool(THIRD_PARTY.match(name))


ROOT_COMMAND = typer.main.get_command(app)


def is_group(command) -> bool:
    return hasattr(command, "list_commands")  # duck-typed: typer may run on its own copy of click


def figmine_command(args: list[str]):
    """Parse `figmine ARGS` the way the CLI would, without running it (click raises on anything unknown)."""
    command = ROOT_COMMAND
    path = ["figmine"]
    args = list(args)
    while is_group(command) and args and not args[0].startswith("-"):
        name = args.pop(0)
        sub = command.get_command(command.make_context(" ".join(path), [name, "--help"], resilient_parsing=True),
                                  name)
        assert sub is not None, f"`{' '.join(path)} {name}` is not a figmine command"
        command, path = sub, [*path, name]
    assert not is_group(command), f"`{' '.join(path)}` needs a subcommand"
    return command.make_context(" ".join(path), args, resilient_parsing=False)


SERVICES = compose()["services"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_command_is_a_real_figmine_or_server_command(name):
    service = SERVICES[name]
    command = service.get("command")
    if command is None:
        assert name == "postgres", f"{name}: no command (only the postgres image runs its own)"
        return
    assert isinstance(command, list), f"{name}: write the command as a list (no shell in between)"
    args = [interpolate(str(a), {}) for a in command]
    if args[0] == "figmine":
        ctx = figmine_command(args[1:])
        assert ctx.command.callback is not None
    else:
        assert args[0] == SERVERS.get(service.get("image", "").split(":")[0]), \
            f"{name}: {args[0]!r} is neither figmine nor the server of {service.get('image')}"


def test_figmine_commands_parse_every_option_in_the_compose_file():
    with pytest.raises(Exception, match="No such option"):  # the check itself refuses what figmine would
        figmine_command(["worker", "--queue", "harvest"])
    with pytest.raises(AssertionError):
        figmine_command(["dbs", "upgrade"])
    ctx = figmine_command([interpolate(a, {}) for a in SERVICES["worker"]["command"][1:]])
    assert ctx.params["queues"] == "harvest,captions,detect" and ctx.params["concurrency"] == 2


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_environment_variable_is_read_by_figmine_or_a_third_party(name):
    environment = SERVICES[name].get("environment") or {}
    assert isinstance(environment, dict), f"{name}: write environment as a mapping"
    unknown = sorted(k for k in environment if not known_variable(k))
    assert not unknown, f"{name}: nothing reads {unknown}"


def test_env_example_sets_only_variables_something_reads():
    compose_vars = set(_VAR.findall(COMPOSE.read_text()) and [m[0] for m in _VAR.findall(COMPOSE.read_text())])
    names = [line.split("=", 1)[0].lstrip("# ").strip() for line in ENV_EXAMPLE.read_text().splitlines()
             if re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", line)]
    assert names
    unknown = sorted(n for n in names if not known_variable(n) and n not in compose_vars)
    assert not unknown, f".env.example sets {unknown}, which neither figmine nor the compose file reads"
    secrets = [line for line in ENV_EXAMPLE.read_text().splitlines()
               if re.match(r"^\w*(PASSWORD|SECRET|API_KEY)\w*=\S", line)]
    assert not secrets, f".env.example carries secrets: {secrets}"


def test_compose_has_the_services_the_deployment_needs():
    s = SERVICES
    assert s["postgres"]["image"].startswith("postgres:") and s["postgres"]["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in s["postgres"]["volumes"])
    assert s["redis"]["healthcheck"]["test"]
    assert s["migrate"]["command"] == ["figmine", "db", "upgrade"] and s["migrate"]["restart"] == "no"
    assert s["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert s["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "ports" not in s["worker"], "workers are scaled with --scale: no fixed host port"
    gpu = s["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and "detect" in gpu["command"] and gpu["build"]["target"] == "cuda"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert s["minio"]["profiles"] == ["minio"]
    for name, service in s.items():
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET", key):
                assert "${" in str(value), f"{name}: {key} is written in the compose file, not taken from .env"


def test_healthchecks_name_real_endpoints_and_modules(figmine_env):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app()) as client:
        for name in ("api",):
            test = " ".join(SERVICES[name]["healthcheck"]["test"])
            url_path = re.search(r"http://127\.0\.0\.1:8000(/\w+)", test).group(1)
            assert client.get(url_path).status_code == 200, f"{name}: its healthcheck {url_path} fails on a ready API"
    for name in ("worker", "worker-gpu"):
        test = " ".join(SERVICES[name]["healthcheck"]["test"])
        module = re.search(r"celery -A ([\w.]+)", test).group(1)
        imported = __import__(module, fromlist=["app"])
        assert imported.app.main == "figmine", f"{name}: {module} has no figmine Celery app"


def test_images_run_unprivileged_with_healthchecks_and_no_secrets():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] != "root", "the last stage must not run as root"
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.M)
    assert {"app", "cuda"} <= set(stages)
    assert "HEALTHCHECK" in text and "ARG WITH_SCISPACY_DATA=1" in text and "en_core_sci_sm" in text
    assert not re.search(r"^(ENV|ARG)\s+.*(PASSWORD|SECRET|API_KEY|TOKEN)", text, re.M), "a secret in the image"
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert ".env" in ignore and ".venv" in ignore and ".git" in ignore


def test_the_scispacy_fetch_script_names_the_files_the_linker_looks_for():
    import importlib.util

    from captions.linking import _scispacy_urls

    spec = importlib.util.spec_from_file_location("fetch", ROOT / "docker" / "fetch_scispacy_data.py")
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    remote, kb_urls = _scispacy_urls("umls")
    wanted = {*remote, *kb_urls.values()}
    from scispacy.candidate_generation import DEFAULT_PATHS

    assert wanted == {*DEFAULT_PATHS["umls"], *fetch.KB_FILES["umls"]}


def test_interpolation_follows_compose_rules():
    assert interpolate("${A:-x}", {}) == "x" and interpolate("${A:-x}", {"A": "y"}) == "y"
    assert interpolate("${A:?need A}", {}) == "<A>" and interpolate("$$HOSTNAME", {}) == "$HOSTNAME"
    assert os.environ.get("NOT_SET_ANYWHERE") is None
