"""The plugin's own tests run inner pytest sessions (pytester) against the real binaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: The play as a user writes it (the example, without its e2e marker): each failure mode runs
#: it unchanged and checks what the plugin reports.
PLAY = """
from pytest_hearth import Hatch, HearthProc
from pytest_hearth.factories import WorkspaceFactory


def test_play(hearth_proc: HearthProc, workspace: WorkspaceFactory, hatch: Hatch) -> None:
    ws = workspace("test", tier="solo")
    ws.run(4)
    ws.teardown()
    hatch.assert_chain("provision-then-ralph", prompts=4)
    assert hearth_proc.status("test") == "tier_torn_down"
"""


@pytest.fixture
def bin_dir() -> Path:
    """Where the binaries are: ``HEARTH_BIN_DIR`` (the Makefile sets it), else ``target/debug``
    of this checkout. A missing binary fails the test: these tests never skip.
    """
    here = Path(__file__).resolve()
    d = Path(os.environ.get("HEARTH_BIN_DIR") or here.parents[3] / "target" / "debug")
    for name in ("hearth", "console", "worker-stub"):
        assert (d / name).is_file(), f"{d / name} is missing: run `make build` first"
    return d
