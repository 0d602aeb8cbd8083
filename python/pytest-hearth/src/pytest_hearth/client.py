"""A client of the console's API, with the admin token: provision, run, tear down, read the
audit log. Every refusal is a typed error carrying the console's code and hint.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pytest_hearth.daemons import ConsoleProc
from pytest_hearth.errors import (
    ApiError,
    HearthError,
    ProvisionFailed,
    RunRejected,
    RunUnfinished,
    TeardownFailed,
)

#: How long one console call may take (a provision waits for every role to be ready).
CALL_TIMEOUT = 300.0
#: How long :meth:`Console.run` waits for a run to end.
RUN_DEADLINE = 300.0


def mock_prompts(n: int) -> list[str]:
    """``n`` prompts, as the Rust play sends them."""
    return [f"prompt {i} of {n}: touch the workspace and report" for i in range(1, n + 1)]


@dataclass
class Run:
    """A run as the console recorded it once it ended."""

    run_id: str
    #: ``succeeded``, ``failed``, ``lost`` …
    status: str
    #: Terminal node results, in order.
    nodes: list[dict[str, Any]]
    frames_rejected: int
    record: dict[str, Any] = field(repr=False)


@dataclass
class Workspace:
    """A provisioned workspace: hearth's ``DeploymentRef`` and the verbs on it."""

    slug: str
    tier: str
    #: The front door (the cairnet role's URL).
    endpoint: str
    #: Each role's endpoint, from the ref's ``services``.
    endpoints: dict[str, str]
    ref: dict[str, Any] = field(repr=False)
    console: Console = field(repr=False)
    torn_down: bool = False
    #: Set when a teardown was tried and failed (the fixture does not try again).
    teardown_failed: bool = False

    def run(self, prompts: Sequence[str] | int) -> Run:
        """A run of ``prompts`` (or that many mock prompts) here, waited for to its end."""
        return self.console.run(prompts, workspace=self.slug)

    def teardown(self) -> None:
        """Tears the workspace down (once: a second call does nothing)."""
        if self.torn_down:
            return
        try:
            self.console.teardown(self.slug)
        except HearthError:
            self.teardown_failed = True
            raise
        self.torn_down = True

    def status(self) -> str:
        """Hearth's status for it (``ready``, ``tier_torn_down`` …)."""
        return self.console.proc.hearth.status(self.slug)


class Console:
    """The console's API as the admin."""

    def __init__(self, proc: ConsoleProc) -> None:
        """A client of ``proc`` with its token; no proxy from the environment is followed."""
        self.proc = proc
        self.http = httpx.Client(
            base_url=proc.url,
            headers={"Authorization": f"Bearer {proc.token}"},
            timeout=CALL_TIMEOUT,
            trust_env=False,
        )
        self.last_workspace: str | None = None

    def close(self) -> None:
        """Closes the connection pool."""
        self.http.close()

    def _call(
        self, act: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        try:
            resp = self.http.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise HearthError(
                f"{act}: the console at {self.proc.url} did not answer: {e}\n"
                f"{self.proc.child.diagnose()}",
                code="console_unreachable",
            ) from None
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, resp.text

    def provision(self, slug: str, tier: str = "solo") -> Workspace:
        """``POST /api/hearth/workspaces {slug, tier}``; raises :class:`ProvisionFailed`."""
        act = f"provision {slug!r} ({tier})"
        status, body = self._call(
            act, "POST", "/api/hearth/workspaces", {"slug": slug, "tier": tier}
        )
        if status != 200:
            raise ProvisionFailed(act, status, body)
        self.last_workspace = slug
        services = body.get("services") or []
        return Workspace(
            slug=slug,
            tier=str(body.get("tier", tier)),
            endpoint=str(body.get("endpoint", "")),
            endpoints={str(s["role"]): str(s.get("endpoint", "")) for s in services},
            ref=body,
            console=self,
        )

    def run(
        self,
        prompts: Sequence[str] | int,
        workspace: str | None = None,
        deadline: float = RUN_DEADLINE,
    ) -> Run:
        """Submits ``prompts`` (or that many mock prompts) to ``workspace`` (default: the last
        one provisioned) and waits for the run to end; raises :class:`RunRejected`.
        """
        ws = workspace or self.last_workspace
        if ws is None:
            raise HearthError(
                "run: no workspace given and none provisioned by this client",
                code="invalid_request",
            )
        texts = mock_prompts(prompts) if isinstance(prompts, int) else list(prompts)
        act = f"run of {len(texts)} prompt(s) on {ws!r}"
        status, body = self._call(
            act, "POST", "/api/ralph/runs", {"workspace": ws, "prompts": texts}
        )
        if status != 200:
            raise RunRejected(act, status, body)
        return self.wait_run(str(body["run_id"]), deadline)

    def wait_run(self, run_id: str, deadline: float = RUN_DEADLINE) -> Run:
        """Polls ``GET /api/ralph/runs/{id}?wait=…`` until the run ends."""
        until = time.monotonic() + deadline
        while True:
            status, record = self._call(f"run {run_id}", "GET", f"/api/ralph/runs/{run_id}?wait=30")
            if status != 200:
                raise ApiError(f"run {run_id}", status, record)
            if record.get("status") != "running":
                nodes = record.get("nodes") or {}
                return Run(
                    run_id=run_id,
                    status=str(record.get("status")),
                    nodes=[nodes[k] for k in sorted(nodes, key=int)],
                    frames_rejected=int(record.get("frames_rejected", 0)),
                    record=record,
                )
            if time.monotonic() > until:
                raise RunUnfinished(f"run {run_id} had not ended after {deadline:.0f} s: {record}")

    def teardown(self, slug: str) -> None:
        """``DELETE /api/hearth/workspaces/{slug}``; raises :class:`TeardownFailed`."""
        act = f"teardown of {slug!r}"
        status, body = self._call(act, "DELETE", f"/api/hearth/workspaces/{slug}")
        if status != 200:
            raise TeardownFailed(act, status, body)

    def workspaces(self) -> list[dict[str, Any]]:
        """``GET /api/hearth/workspaces``."""
        status, body = self._call("list workspaces", "GET", "/api/hearth/workspaces")
        if status != 200:
            raise ApiError("list workspaces", status, body)
        return list(body)

    def events(self) -> list[dict[str, Any]]:
        """``GET /api/hatch/events``: the whole audit log, as the console serves it."""
        status, body = self._call("read the HATCH log", "GET", "/api/hatch/events")
        if status != 200:
            raise ApiError("read the HATCH log", status, body)
        return list(body)
