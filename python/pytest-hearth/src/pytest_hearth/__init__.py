"""pytest-hearth: fixtures that run the real hearth, console and worker-stub binaries.

The fixtures (``hearth_proc``, ``hearth_noproc``, ``worker_proc``, ``console_proc``,
``console``, ``workspace``, ``hatch``) come from the pytest11 entry point
(:mod:`pytest_hearth.plugin`); :mod:`pytest_hearth.factories` makes variants of them.
"""

from pytest_hearth.client import Console, Run, Workspace, mock_prompts
from pytest_hearth.daemons import ConsoleProc, HearthProc, WorkerProc
from pytest_hearth.errors import (
    ApiError,
    BinaryNotFound,
    ChainBroken,
    EngineUnavailable,
    HearthError,
    LeftBehind,
    ProvisionFailed,
    RunRejected,
    RunUnfinished,
    StartFailed,
    TeardownFailed,
)
from pytest_hearth.hatch import Hatch, HatchEvent

__all__ = [
    "ApiError",
    "BinaryNotFound",
    "ChainBroken",
    "Console",
    "ConsoleProc",
    "EngineUnavailable",
    "Hatch",
    "HatchEvent",
    "HearthError",
    "HearthProc",
    "LeftBehind",
    "ProvisionFailed",
    "Run",
    "RunRejected",
    "RunUnfinished",
    "StartFailed",
    "TeardownFailed",
    "WorkerProc",
    "Workspace",
    "mock_prompts",
]
