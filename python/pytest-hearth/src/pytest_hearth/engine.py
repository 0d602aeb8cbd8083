"""The engine, as the plugin sees it: whether one answers (asked of ``hearth doctor``, which
finds it as the docker CLI does), and what a stopped hearth left on it (asked of the docker
CLI, by the daemon's instance label, and removed).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from pytest_hearth.errors import EngineUnavailable, LeftBehind
from pytest_hearth.process import run_bounded

#: The label every object a hearth daemon makes carries, with its instance id as value.
INSTANCE_LABEL = "dev.hearth.instance"
#: The doctor checks that decide whether the play can run on the engine.
ENGINE_CHECKS = ("engine", "socket", "engine-api")


def check_engine(hearth_bin: Path, image: str, docker_host: str | None) -> None:
    """Raises :class:`EngineUnavailable` when ``hearth doctor`` finds no engine, or no ``image``
    on it, naming the failed check and hearth's hint.
    """
    with tempfile.TemporaryDirectory(prefix="hearth-doctor-") as d:
        argv = [
            str(hearth_bin),
            "doctor",
            "-o",
            "json",
            "--driver",
            "local-docker",
            "--socket",
            f"{d}/hearth.sock",
            "--state-dir",
            f"{d}/state",
            "--image-cairnet",
            image,
            "--image-lore",
            image,
        ]
        if docker_host:
            argv += ["--docker-host", docker_host]
        out = run_bounded(argv, 120)
    try:
        checks = json.loads(out.stdout)["checks"]
    except (ValueError, KeyError, TypeError):
        raise EngineUnavailable(
            f"`hearth doctor` could not judge the engine (exit {out.returncode}): "
            f"{(out.stderr or out.stdout).strip()}"
        ) from None
    for c in checks:
        name = str(c.get("check", ""))
        wanted = name in ENGINE_CHECKS or name.startswith("image")
        if wanted and c.get("status") == "fail":
            raise EngineUnavailable(
                f"HEARTH_E2E=1 asks for the engine-backed tests and they fail, never skip: "
                f"{name}: {c.get('detail')}",
                hint=str(c.get("hint") or "start the Docker engine, or unset HEARTH_E2E"),
                code="image_unavailable" if name.startswith("image") else "docker_unavailable",
            )


def _docker(args: list[str], docker_host: str | None) -> list[str]:
    env = dict(os.environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    out = run_bounded(["docker", *args], 60, env)
    return out.stdout.split() if out.returncode == 0 else []


def sweep_leftovers(instance: str, docker_host: str | None) -> None:
    """Removes what hearth instance ``instance`` left on the engine, then raises
    :class:`LeftBehind` naming it. Nothing without that instance's label is touched.
    """
    if shutil.which("docker") is None:
        return
    label = f"label={INSTANCE_LABEL}={instance}"
    kinds = {
        "service": (["service", "ls", "-q", "--filter", label], ["service", "rm"]),
        "container": (["ps", "-aq", "--filter", label], ["rm", "-f", "-v"]),
        "network": (["network", "ls", "-q", "--filter", label], ["network", "rm"]),
        "volume": (["volume", "ls", "-q", "--filter", label], ["volume", "rm", "-f"]),
    }
    left: list[str] = []
    for kind, (ls, rm) in kinds.items():
        ids = _docker(ls, docker_host)
        if ids:
            left += [f"{kind} {i}" for i in ids]
            _docker([*rm, *ids], docker_host)
    if left:
        raise LeftBehind(
            f"hearth instance {instance} left {len(left)} object(s) on the engine after it "
            f"stopped (now removed): {', '.join(left)}",
            hint="a teardown failed or never ran: see the test that provisioned them",
        )
