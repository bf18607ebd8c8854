"""The main job on the embedded sample, as ``./dev demo`` runs it: each step is a real
``routerrec`` command, printed before it runs, so the demo doubles as a tutorial."""
from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

import click

from .main import main as cli


def _run(args: list[str]) -> None:
    click.secho(f"\n$ routerrec {shlex.join(args)}", bold=True)
    cli.main(args, prog_name="routerrec", standalone_mode=False)


def demo(out: Path) -> None:
    """Fit ALS on the sample with 10% of cells held out, show top models per prompt, then
    fit an ``mf`` router and route new prompt texts for a willingness to pay."""
    _run(["data", "info"])
    _run(["fit", "--method", "als", "--holdout", "0.1", "--out", str(out / "als"), "--quiet"])
    _run(["predict", "--model", str(out / "als"), "--top", "3", "--limit", "5"])
    _run(["fit", "--router", "mf", "--out", str(out / "mf-router"), "--quiet"])
    prompts = ["Solve for x: 3x + 7 = 22, then compute x squared.",
               "Write a function that merges two sorted lists.",
               "Which river flows through the capital of France?"]
    _run(["route", "--router", str(out / "mf-router"), "--wtp", "0.1", *prompts])
    _run(["route", "--router", str(out / "mf-router"), "--max-cost", "0.0005", *prompts])


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="routerrec-demo-"))
    demo(target)
