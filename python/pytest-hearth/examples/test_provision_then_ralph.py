"""The play, as the origin's tests/e2e/test_provision_then_ralph.py: provision a solo
workspace, run four prompts in it, tear it down, and prove from the HATCH log alone that every
act happened in order. Runs with HEARTH_E2E=1 (or ROCKY_E2E=1) against the Docker engine.
"""

import pytest

from pytest_hearth import Hatch, HearthProc
from pytest_hearth.factories import WorkspaceFactory

PROMPTS = 4


@pytest.mark.e2e
def test_provision_then_ralph(
    hearth_proc: HearthProc, workspace: WorkspaceFactory, hatch: Hatch
) -> None:
    ws = workspace("test", tier="solo")
    ws.run(PROMPTS)
    ws.teardown()
    hatch.assert_chain("provision-then-ralph", prompts=PROMPTS)
    assert hearth_proc.status("test") == "tier_torn_down"
