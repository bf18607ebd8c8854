"""The main job on the embedded sample, as ``./dev demo`` runs it: each step is a real
``routerrec`` command, printed before it runs, so the demo doubles as a tutorial."""
from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

import click

from .cli import main as cli


def _run(args: list[str]) -> None:
    click.secho(f"\n$ routerrec {shlex.join(args)}", bold=True)
    cli.main(args, prog_name="routerrec", standalone_mode=False)


def demo(out: Path) -> None:
    """Fit ALS on the sample with 10% of cells held out, then show top models per prompt."""
    _run(["data", "info"])
    _run(["fit", "--method", "als", "--holdout", "0.1", "--out", str(out / "als"), "--quiet"])
    _run(["predict", "--model", str(out / "als"), "--top", "3", "--limit", "5"])


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="routerrec-demo-"))
    demo(target)
