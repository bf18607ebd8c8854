"""``routerrec route``: the router option, its old name, and the one pick rule."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from cli_helpers import run_many
from routerrec.cli.main import main
from routerrec.routing.base import Router

PROMPTS = ["Solve for x: 3x + 7 = 22.", "Write a function that merges two sorted lists."]


@pytest.fixture(scope="module")
def router_dir(small_routers):
    """The session's linear router on the small sample."""
    out, done = small_routers["linear"]
    assert done.returncode == 0, done.stderr
    return out


def test_route_takes_router_and_still_accepts_its_old_name_model(router_dir):
    new, old, helped, missing, both = run_many(  # independent: run at once
        ("route", "--router", router_dir, "--wtp", 1000, "--json", *PROMPTS),
        ("route", "--model", router_dir, "--wtp", 1000, "--json", *PROMPTS),
        ("route", "--help"), ("route", "--wtp", 1, "x"),
        ("route", "--router", router_dir, "--model", router_dir, "x"))
    for done in (new, old, helped):
        assert done.returncode == 0, (done.args, done.stderr)
    assert new.stdout == old.stdout and len(json.loads(new.stdout)["decisions"]) == 2
    assert not re.search(r"--model\b", helped.stdout)  # hidden
    assert missing.returncode == 2 and "Missing option '--router'" in missing.stderr
    assert both.returncode == 2 and "old name of --router" in both.stderr


def test_batch_routing_picks_with_the_routers_choose(router_dir, tmp_path, monkeypatch):
    calls = []
    original = Router.choose

    def spy(self, scores, costs, **kw):
        calls.append(kw)
        return original(self, scores, costs, **kw)

    monkeypatch.setattr(Router, "choose", spy)
    batch = tmp_path / "prompts.txt"
    batch.write_text("\n".join(PROMPTS) + "\n")
    res = CliRunner().invoke(main, ["route", "--router", str(router_dir), "--prompts", str(batch),
                                    "--max-cost", "0.001", "--out", str(tmp_path / "d.jsonl")])
    assert res.exit_code == 0, res.output
    assert calls == [{"wtp": None, "max_cost": 0.001}]
