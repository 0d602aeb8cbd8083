"""The HATCH audit log as one test sees it: the CloudEvents the console appended since the
test began, and ``assert_chain``, which hands that slice to ``console hatch verify`` and raises
with its diagnosis when the chain breaks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_hearth.errors import ChainBroken, HearthError
from pytest_hearth.process import run_bounded


@dataclass(frozen=True)
class HatchEvent:
    """One CloudEvents 1.0 line of the log."""

    type: str
    subject: str
    seq: int
    id: str
    source: str
    time: str
    data: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


def read_events(path: Path) -> list[HatchEvent]:
    """Every whole event of the log at ``path`` (a torn last line, left by a crash, is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:
            if n == len(lines):
                break
            raise HearthError(
                f"{path}:{n} is not a JSON line: {line[:120]!r}", code="hatch_unreadable"
            ) from None
        events.append(
            HatchEvent(
                type=str(e.get("type", "")),
                subject=str(e.get("subject", "")),
                seq=int(e.get("seq", 0)),
                id=str(e.get("id", "")),
                source=str(e.get("source", "")),
                time=str(e.get("time", "")),
                data=dict(e.get("data") or {}),
                raw=e,
            )
        )
    return events


class Hatch:
    """The log of one test: the events appended after ``start_seq``."""

    def __init__(self, path: Path, console_bin: Path, workdir: Path) -> None:
        """Marks where the log stands now; later reads see only what came after."""
        self.path = path
        self.console_bin = console_bin
        self.workdir = workdir
        self.start_seq = max((e.seq for e in read_events(path)), default=0)

    @property
    def events(self) -> list[HatchEvent]:
        """The events this test caused, in order."""
        return [e for e in read_events(self.path) if e.seq > self.start_seq]

    def types(self) -> list[str]:
        """The event types, in order."""
        return [e.type for e in self.events]

    def of_type(self, prefix: str) -> list[HatchEvent]:
        """The events whose type starts with ``prefix`` (``ralph.node.`` for every node)."""
        return [e for e in self.events if e.type.startswith(prefix)]

    def _slice(self) -> Path:
        """Writes the test's lines of the log to a file of their own, for ``hatch verify``."""
        out = self.workdir / "hatch-slice.jsonl"
        raws = [json.dumps(e.raw) for e in self.events]
        out.write_text("".join(f"{r}\n" for r in raws))
        return out

    def verify(self, chain: str = "provision-then-ralph", prompts: int = 4) -> dict[str, Any]:
        """``console hatch verify -o json`` on this test's events: its verdict."""
        argv = [
            str(self.console_bin),
            "hatch",
            "verify",
            "--chain",
            chain,
            "--prompts",
            str(prompts),
            "-o",
            "json",
            str(self._slice()),
        ]
        out = run_bounded(argv, 60)
        try:
            verdict = json.loads(out.stdout)
        except ValueError:
            verdict = None
        if out.returncode not in (0, 1) or not isinstance(verdict, dict) or "ok" not in verdict:
            raise HearthError(
                f"`console hatch verify` could not judge the log (exit {out.returncode}): "
                f"{(out.stdout + out.stderr).strip()}",
                code="hatch_unreadable",
            )
        return verdict

    def assert_chain(self, chain: str = "provision-then-ralph", prompts: int = 4) -> None:
        """Raises :class:`ChainBroken` naming the first missing act and its probable cause,
        as ``console hatch verify`` diagnoses it, unless the chain is whole.
        """
        verdict = self.verify(chain, prompts)
        if verdict["ok"]:
            return
        gap: dict[str, Any] = verdict.get("gap") or {}
        found = gap.get("found")
        lines = [
            f"the HATCH chain {chain} ({prompts} prompts) breaks at act "
            f"{gap.get('position')} of {verdict.get('acts')}: {gap.get('act')} is missing "
            f"({f'found {found} instead' if found else 'the log ends first'})",
            f"cause: {gap.get('cause')}",
        ]
        if gap.get("evidence"):
            lines.append(f"evidence: {gap['evidence']}")
        lines += [f"note: {n}" for n in verdict.get("notes") or []]
        raise ChainBroken("\n".join(lines), gap=gap, hint=gap.get("hint"))
