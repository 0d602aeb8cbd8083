"""Fixture factories, in pytest-postgresql's manner: each returns a fixture, so a conftest
makes its own variant (another driver, worker faults, a key file) beside the defaults::

    from pytest_hearth import factories

    hearth_fake = factories.hearth_proc(driver="fake")
    console_fake = factories.console_proc(hearth="hearth_fake")
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from pytest_hearth import config, engine
from pytest_hearth.client import Console, Workspace
from pytest_hearth.daemons import (
    ENGINE_DRIVERS,
    ConsoleProc,
    HearthProc,
    WorkerProc,
    attach_hearth,
    start_console,
    start_hearth,
    start_worker,
)
from pytest_hearth.hatch import Hatch

#: Longest unix socket path the kernel takes (108 with the NUL), with room to spare.
MAX_SOCKET_PATH = 100

PathArg = str | Path | None


def _workdir(factory: pytest.TempPathFactory, name: str) -> Path:
    """A session temp dir, short enough for a unix socket inside it."""
    d = factory.mktemp(name)
    if len(str(d / "hearth.sock")) > MAX_SOCKET_PATH:
        d = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    return d


def hearth_proc(
    bin_dir: PathArg = None,
    *,
    driver: str = "local-docker",
    image: str | None = None,
    docker_host: str | None = None,
    teardown_timeout: int | None = None,
    fake_faults: Sequence[str] = (),
    args: Sequence[str] = (),
) -> Any:
    """A session fixture running ``hearth serve`` on a temp socket and state dir.

    It waits until hearth answers, and at the end stops it and checks (by its instance label)
    that nothing it made is left on the engine. ``fake_faults`` are ``--fake-fault`` switches
    (driver ``fake``), ``args`` any further ``hearth serve`` flags.
    """

    @pytest.fixture(scope="session")
    def hearth_proc_fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[HearthProc]:
        bins = config.find_binaries(request.config, bin_dir)
        extra = list(args)
        if teardown_timeout is not None:
            extra += ["--teardown-timeout", str(teardown_timeout)]
        for f in fake_faults:
            extra += ["--fake-fault", f]
        proc = start_hearth(
            bins,
            _workdir(tmp_path_factory, "hearth"),
            driver=driver,
            image=config.image(request.config, image),
            docker_host=docker_host,
            extra=extra,
        )
        yield proc
        assert proc.child is not None
        proc.child.stop()
        if driver in ENGINE_DRIVERS and proc.instance:
            engine.sweep_leftovers(proc.instance, docker_host)

    return hearth_proc_fixture


def hearth_noproc(bin_dir: PathArg = None, *, socket: PathArg = None) -> Any:
    """A session fixture attaching to a hearth already running at ``socket`` (default:
    ``--hearth-socket``, ini ``hearth_socket``, ``HEARTH_SOCKET``, hearth's default path).
    """

    @pytest.fixture(scope="session")
    def hearth_noproc_fixture(request: pytest.FixtureRequest) -> HearthProc:
        bins = config.find_binaries(request.config, bin_dir)
        return attach_hearth(bins, config.socket(request.config, socket))

    return hearth_noproc_fixture


def worker_proc(
    bin_dir: PathArg = None, *, faults: Sequence[str] = (), keys: PathArg = None
) -> Any:
    """A session fixture running ``worker-stub serve`` on port 0 with its keys (a fresh
    0600 file unless ``keys`` names one) and ``--fault`` switches (``bad-frame`` …).
    """

    @pytest.fixture(scope="session")
    def worker_proc_fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[WorkerProc]:
        bins = config.find_binaries(request.config, bin_dir)
        proc = start_worker(
            bins,
            tmp_path_factory.mktemp("worker"),
            keys=Path(keys) if keys else None,
            faults=list(faults),
        )
        yield proc
        proc.child.stop()

    return worker_proc_fixture


def console_proc(
    hearth: str = "hearth_proc",
    worker: str = "worker_proc",
    *,
    bin_dir: PathArg = None,
    keys: PathArg = None,
) -> Any:
    """A session fixture running ``console serve`` on port 0 in front of the fixtures named
    ``hearth`` and ``worker``, signing with ``keys`` (default: the worker's own key file);
    its admin token is read from its 0600 file.
    """

    @pytest.fixture(scope="session")
    def console_proc_fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ConsoleProc]:
        bins = config.find_binaries(request.config, bin_dir)
        h: HearthProc = request.getfixturevalue(hearth)
        w: WorkerProc = request.getfixturevalue(worker)
        proc = start_console(
            bins, tmp_path_factory.mktemp("console"), h, w, keys=Path(keys) if keys else None
        )
        yield proc
        proc.child.stop()

    return console_proc_fixture


def console(proc: str = "console_proc") -> Any:
    """A function fixture: a :class:`~pytest_hearth.client.Console` client of ``proc``."""

    @pytest.fixture
    def console_fixture(request: pytest.FixtureRequest) -> Iterator[Console]:
        client = Console(request.getfixturevalue(proc))
        yield client
        client.close()

    return console_fixture


class WorkspaceFactory(Protocol):
    """What the ``workspace`` fixture is: call it to provision one."""

    def __call__(self, slug: str = "test", tier: str = "solo") -> Workspace:
        """Provisions ``slug`` at ``tier``; torn down after the test."""


def workspace(client: str = "console") -> Any:
    """A function fixture: a factory that provisions a workspace and tears it down after the
    test, even when the test failed (unless the test's own teardown of it already failed,
    which the test reports).
    """

    @pytest.fixture
    def workspace_fixture(request: pytest.FixtureRequest) -> Iterator[WorkspaceFactory]:
        c: Console = request.getfixturevalue(client)
        made: list[Workspace] = []

        def make(slug: str = "test", tier: str = "solo") -> Workspace:
            ws = c.provision(slug, tier)
            made.append(ws)
            return ws

        yield make
        for ws in reversed(made):
            if not ws.torn_down and not ws.teardown_failed:
                ws.teardown()

    return workspace_fixture


def hatch(proc: str = "console_proc") -> Any:
    """A function fixture: the HATCH log of ``proc`` as this test sees it (a
    :class:`~pytest_hearth.hatch.Hatch`).
    """

    @pytest.fixture
    def hatch_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Hatch:
        p: ConsoleProc = request.getfixturevalue(proc)
        # The console binary that writes the log is the one that verifies it.
        return Hatch(p.hatch, Path(p.child.argv[0]), tmp_path)

    return hatch_fixture


__all__: list[str] = [
    "console",
    "console_proc",
    "hatch",
    "hearth_noproc",
    "hearth_proc",
    "worker_proc",
    "workspace",
]
