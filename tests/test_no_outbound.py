"""figmine sends nothing off the machine: a detection and an ingest (detection on) of real fixture
material, each in a child process under strace, with every connect/sendto/sendmsg recorded.

ONNX Runtime's telemetry (on by default in its Linux wheels since 1.2x) resolves
mobile.events.data.microsoft.com through the system resolver about 10 s after it starts, then every
5-9 s, and keeps an event database under ~/.cache/Microsoft. A command that ends sooner would hide it,
so each child runs the real CLI and then stays alive for LINGER_S before exiting.

Anything aimed at an address other than 127.0.0.0/8 or ::1, and any DNS query (port 53, even to a
loopback resolver: the name it asks for is remote; or the resolver daemons' Unix sockets) fails the test.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
FIGURE = FIXTURES / "compound-figures" / "gold-dev" / "images" / "oa_pkg__pmc2924383__pone.0012255.g002.jpg"
PACKAGES = sorted((FIXTURES / "packages").glob("*.tar.gz"))
LINGER_S = 13.0  # past the ~10 s delay of ONNX Runtime's first telemetry lookup
STRACE = shutil.which("strace")

# The CLI exactly as the `figmine` console script runs it, then a pause with ONNX Runtime still loaded.
CHILD = """
import socket, sys, time
# a canary the trace must show: proof that strace records this process's sends
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"canary", ("127.0.0.1", 9))
from figmine.cli import app
try:
    app(sys.argv[2:], prog_name="figmine")
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
time.sleep(float(sys.argv[1]))
sys.exit(code)
"""

_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=@?"([^"]+)"')
# systemd-resolved's varlink socket (nss-resolve). nscd's socket also serves user and group look-ups,
# so a connection to it alone says nothing.
_RESOLVER_SOCKETS = ("io.systemd.Resolve",)


def outbound(trace: str) -> list[str]:
    """The strace lines that try to reach beyond this machine."""
    found = []
    for line in trace.splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg|sendmmsg)\(", line):
            continue
        for port, address in _INET.findall(line) + _INET6.findall(line):
            ip = ipaddress.ip_address(address)
            mapped = getattr(ip, "ipv4_mapped", None)
            if not (mapped or ip).is_loopback or int(port) == 53:
                found.append(line)
        if any(word in path for path in _UNIX.findall(line) for word in _RESOLVER_SOCKETS):
            found.append(line)
    return found


def run_traced(args: list[str], tmp: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, str]:
    trace = tmp / "strace.txt"
    cmd = [STRACE, "-f", "-qq", "--seccomp-bpf", "-s", "80", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
           "-o", str(trace), sys.executable, "-c", CHILD, str(LINGER_S), *args]
    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=240)
    return done, trace.read_text()


def child_env(tmp: Path) -> dict[str, str]:
    """The test's environment for a child, with a home of its own (to see what lands in ~/.cache) and
    without ORT_DISABLE_TELEMETRY, which this test process may have set itself by importing figmine."""
    home = tmp / "user-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(REPO))
    return env


def _check(done: subprocess.CompletedProcess, trace: str, home: Path) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '"canary"' in trace, "strace did not record the child's canary: the trace is not working"
    attempts = outbound(trace)
    assert not attempts, "outbound traffic:\n" + "\n".join(attempts[:10])
    written = sorted(str(p.relative_to(home)) for p in (home / ".cache" / "Microsoft").rglob("*"))
    assert not written, f"ONNX Runtime wrote its telemetry store: {written}"


def test_the_checker_sees_what_it_must() -> None:
    """The parser on the shapes strace prints (taken from a run before the fix)."""
    lines = [
        '1 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '1 sendto(8, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = 1',
        '1 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0',
        '1 connect(4, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}, 110) = 0',
    ]
    local = [
        '1 connect(5, {sa_family=AF_INET, sin_port=htons(5432), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '1 connect(5, {sa_family=AF_INET6, sin6_port=htons(9000), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '1 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '1 connect(7, {sa_family=AF_UNIX, sun_path="/var/run/postgresql/.s.PGSQL.5432"}, 110) = 0',
        '1 sendto(9, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0}, 12) = 20',
    ]
    assert outbound("\n".join(lines)) == lines
    assert outbound("\n".join(local)) == []


needs_strace = pytest.mark.skipif(STRACE is None, reason="strace missing (`make test` installs it)")


@needs_strace
@pytest.mark.timeout(240)
def test_detection_sends_nothing_off_the_machine(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    done, trace = run_traced(["detect", "--json", str(FIGURE)], tmp_path, env)
    assert '"panels"' in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    _check(done, trace, Path(env["HOME"]))


@needs_strace
@pytest.mark.timeout(300)
def test_ingest_with_detection_sends_nothing_off_the_machine(figmine_env, tmp_path: Path) -> None:
    from support.sql import scalar

    env = child_env(tmp_path)  # after figmine_env: the database and FIGMINE_HOME it set are passed on
    done, trace = run_traced(["ingest", *map(str, PACKAGES), "--detect", "--no-concepts"], tmp_path, env)
    assert scalar(figmine_env["url"], "SELECT count(*) FROM figures WHERE detected_at IS NOT NULL") >= 10, done.stdout
    _check(done, trace, Path(env["HOME"]))
