"""The three processes of the play as the fixtures start them: ``hearth serve`` on a temp
socket and state dir, ``worker-stub serve`` and ``console serve`` on port 0 with their keys,
and what each one is once up (its socket or URL, the console's token read from its 0600 file).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pytest_hearth.config import Binaries
from pytest_hearth.errors import HearthError, StartFailed
from pytest_hearth.process import START_DEADLINE, Child, run_bounded

#: The drivers that put workspaces on an engine (and so are checked for leftovers).
ENGINE_DRIVERS = ("local-docker", "swarm")


def healthz(socket: Path) -> bool:
    """Whether hearth answers ``GET /v1/healthz`` on ``socket``."""
    if not socket.exists():
        return False
    try:
        transport = httpx.HTTPTransport(uds=str(socket))
        with httpx.Client(transport=transport, timeout=2.0) as c:
            return c.get("http://hearth/v1/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class HearthProc:
    """A hearth daemon: started by ``hearth_proc`` (``child`` set) or found by ``hearth_noproc``."""

    socket: Path
    binaries: Binaries
    driver: str
    #: The daemon's instance id (stamped on every engine object), when this plugin started it.
    instance: str | None = None
    docker_host: str | None = None
    state_dir: Path | None = None
    child: Child | None = field(default=None, repr=False)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``hearth --socket SOCKET ARGS…`` (the daemon's own client)."""
        return run_bounded([self.binaries.hearth, "--socket", self.socket, *args], 300)

    def status(self, slug: str) -> str:
        """``hearth status SLUG -o json`` → the status (``ready``, ``tier_torn_down`` …)."""
        out = self.cli("status", slug, "-o", "json")
        try:
            status = json.loads(out.stdout)["status"]
        except (ValueError, KeyError, TypeError):
            raise HearthError(
                f"`hearth status {slug} -o json` answered {out.stdout.strip()!r} "
                f"(exit {out.returncode}; stderr {out.stderr.strip()!r})",
                code="bad_answer",
            ) from None
        return str(status)


def start_hearth(
    bins: Binaries,
    workdir: Path,
    *,
    driver: str,
    image: str,
    docker_host: str | None,
    extra: list[str],
) -> HearthProc:
    """Starts ``hearth serve`` in ``workdir`` and waits until it answers ``/v1/healthz``."""
    socket = workdir / "hearth.sock"
    state = workdir / "hearth-state"
    instance = f"pytest-{secrets.token_hex(4)}"
    argv: list[str | Path] = [
        bins.hearth,
        "serve",
        "--socket",
        socket,
        "--state-dir",
        state,
        "--driver",
        driver,
        "--instance",
        instance,
    ]
    run = os.environ.get("HEARTH_TEST_RUN")
    if run:
        # `make test` sweeps what its run labelled, whatever happens to this session.
        argv += ["--label", f"dev.hearth.test={run}"]
    if driver in ENGINE_DRIVERS:
        argv += ["--image-cairnet", image, "--image-lore", image]
    if docker_host:
        argv += ["--docker-host", docker_host]
    argv += extra
    child = Child("hearth", argv, workdir)
    try:
        child.wait_until(lambda: healthz(socket), "answer GET /v1/healthz", START_DEADLINE)
    except StartFailed:
        child.stop()
        raise
    return HearthProc(
        socket=socket,
        binaries=bins,
        driver=driver,
        instance=instance,
        docker_host=docker_host,
        state_dir=state,
        child=child,
    )


def attach_hearth(bins: Binaries, socket: Path) -> HearthProc:
    """A hearth already running at ``socket``, or an error saying none answers there."""
    if not healthz(socket):
        raise HearthError(
            f"no hearth answers GET /v1/healthz at {socket}",
            hint="start one (`hearth serve --socket PATH`) or point --hearth-socket at its socket",
            code="hearth_unreachable",
        )
    return HearthProc(socket=socket, binaries=bins, driver="attached")


def write_keys(path: Path, key_id: str = "pytest") -> Path:
    """A fresh ``key_id:secret`` keys file (256 random bits), mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{key_id}:{secrets.token_hex(32)}\n")
    return path


@dataclass
class WorkerProc:
    """A ``worker-stub serve`` on port 0."""

    url: str
    #: The keys file it verifies bearers with (the console signs with the same one by default).
    keys: Path
    child: Child = field(repr=False)


def start_worker(
    bins: Binaries, workdir: Path, *, keys: Path | None, faults: list[str]
) -> WorkerProc:
    """Starts the worker with its keys (fresh ones unless given) and ``--fault`` switches."""
    keys = keys or write_keys(workdir / "worker.keys")
    argv: list[str | Path] = [
        bins.worker,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--keys",
        keys,
        "--state-dir",
        workdir / "worker-state",
    ]
    for f in faults:
        argv += ["--fault", f]
    child = Child("worker-stub", argv, workdir)
    try:
        url = child.listening_url()
    except StartFailed:
        child.stop()
        raise
    return WorkerProc(url=url, keys=keys, child=child)


@dataclass
class ConsoleProc:
    """A ``console serve`` on port 0, in front of a hearth and a worker."""

    url: str
    #: The admin token, read from ``STATE/console.token`` (which must be 0600).
    token: str
    #: The HATCH log the console appends to.
    hatch: Path
    hearth: HearthProc
    worker: WorkerProc
    child: Child = field(repr=False)


def read_token(state: Path, child: Child) -> str:
    """The console's admin token, refusing a token file others can read."""
    path = state / "console.token"
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        token = path.read_text().strip()
    except OSError as e:
        raise StartFailed(f"the console wrote no token at {path}: {e}\n{child.diagnose()}") from e
    if mode & 0o077:
        raise StartFailed(f"the console's token file {path} has mode {mode:04o}, not 0600")
    return token


def start_console(
    bins: Binaries, workdir: Path, hearth: HearthProc, worker: WorkerProc, *, keys: Path | None
) -> ConsoleProc:
    """Starts the console against ``hearth`` and ``worker``, signing with ``keys`` (default: the
    worker's own file).
    """
    state = workdir / "console-state"
    hatch = workdir / "hatch.jsonl"
    argv: list[str | Path] = [
        bins.console,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--hearth-socket",
        hearth.socket,
        "--worker-url",
        worker.url,
        "--keys",
        keys or worker.keys,
        "--hatch",
        hatch,
        "--state-dir",
        state,
    ]
    child = Child("console", argv, workdir)
    try:
        url = child.listening_url()
        token = read_token(state, child)
    except StartFailed:
        child.stop()
        raise
    return ConsoleProc(url=url, token=token, hatch=hatch, hearth=hearth, worker=worker, child=child)
