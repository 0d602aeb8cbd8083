"""A configured tier's template through the plugin: ``workspace(tier=...)`` provisions the
tier's own roles, and the workspace object exposes each serving role's endpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIG = """
[tiers.team]
front_door = "web"
[tiers.team.roles.db]
image = "db:1"
port = 9000
[tiers.team.roles.migrate]
image = "db:1"
once = true
depends_on = { db = "ready" }
[tiers.team.roles.web]
image = "web:1"
port = 8080
env = { DB_URL = "{{db.url}}" }
depends_on = { db = "ready", migrate = "completed" }
"""

TEST = """
import httpx


def test_team(workspace):
    ws = workspace("tpl", tier="team")
    assert sorted(ws.endpoints) == ["db", "web"], ws.endpoints
    env = httpx.get(ws.endpoints["web"] + "/env", timeout=10).json()
    assert env["DB_URL"].endswith(":9000"), env
    ws.teardown()
"""


def test_a_configured_tier_runs_its_template(pytester: pytest.Pytester, bin_dir: Path) -> None:
    """hearth_proc takes ``--config``; the tier's roles (one-shot aside) are the endpoints."""
    config = pytester.path / "hearth.toml"
    config.write_text(CONFIG)
    pytester.makeconftest(
        "from pytest_hearth import factories\n"
        f'hearth_proc = factories.hearth_proc(driver="fake", args=["--config", {str(config)!r}])\n'
    )
    pytester.makepyfile(TEST)
    result = pytester.runpytest_subprocess(f"--hearth-bin-dir={bin_dir}")
    result.assert_outcomes(passed=1)
