"""The pytest11 entry point: the options and ini keys, the ``e2e`` marker, the default
fixtures, and the report that shows a gap (a :class:`~pytest_hearth.errors.HearthError`) as
what it is rather than as a traceback from inside the plugin.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_hearth import config, engine, factories
from pytest_hearth.errors import BinaryNotFound, HearthError

#: The plugin's own source directory: its frames are left out of a gap's report.
_HERE = Path(__file__).resolve().parent
_E2E_VERDICT = pytest.StashKey[HearthError | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--hearth-bin-dir``, ``--hearth-socket``, ``--hearth-image`` and their ini keys."""
    group = parser.getgroup("hearth", "hearth: the real hearth, console and worker binaries")
    for name, help_text in config.OPTIONS:
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, action="store", dest=name, metavar="VALUE", help=help_text)
        parser.addini(name, help=help_text, default=None)


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``e2e`` marker."""
    config.addinivalue_line(
        "markers",
        "e2e: needs the engine; runs only with HEARTH_E2E=1 or ROCKY_E2E=1, and then fails "
        "(never skips) when no engine answers",
    )


def _engine_verdict(item: pytest.Item) -> HearthError | None:
    """Once a session: the engine gap (``hearth doctor``'s failing check) that stops an e2e
    test, if any.
    """
    stash = item.config.stash
    if _E2E_VERDICT not in stash:
        try:
            bins = config.find_binaries(item.config, None)
        except BinaryNotFound:
            # A factory may name its own bin_dir: the fixtures report a binary they miss.
            stash[_E2E_VERDICT] = None
            return None
        # The engine as the user's environment names it (DOCKER_HOST, the docker context …).
        try:
            engine.check_engine(bins.hearth, config.image(item.config, None), None)
            stash[_E2E_VERDICT] = None
        except HearthError as e:
            stash[_E2E_VERDICT] = e
    return stash[_E2E_VERDICT]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """An ``e2e`` test: skipped unless asked for, failed when asked for and no engine answers."""
    if item.get_closest_marker("e2e") is None:
        return
    if not config.e2e_wanted():
        pytest.skip("e2e: set HEARTH_E2E=1 (or ROCKY_E2E=1) to run it against the engine")
    gap = _engine_verdict(item)
    if gap is not None:
        raise gap


def _outside_plugin(entry: Any) -> bool:
    """Whether a traceback entry (pytest's ``TracebackEntry``) is the user's code."""
    path = Path(str(entry.path))
    parts = path.parts
    return _HERE not in path.parents and "_pytest" not in parts and "pluggy" not in parts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """A gap is reported as its message, after the test's own lines (never the plugin's);
    ``--tb=long`` or ``--tb=native`` keeps the whole traceback, for debugging the plugin.
    """
    outcome = yield
    report = outcome.get_result()
    excinfo = call.excinfo
    if excinfo is None or not isinstance(excinfo.value, HearthError):
        return
    if item.config.getoption("tbstyle", "auto") in ("long", "native"):
        return
    user_frames = excinfo.traceback.filter(_outside_plugin)
    if user_frames:
        report.longrepr = excinfo.getrepr(
            style="short", chain=False, tbfilter=lambda _: user_frames
        )
    else:
        report.longrepr = excinfo.getrepr(style="value", chain=False)


hearth_proc = factories.hearth_proc()
hearth_noproc = factories.hearth_noproc()
worker_proc = factories.worker_proc()
console_proc = factories.console_proc()
console = factories.console()
workspace = factories.workspace()
hatch = factories.hatch()
