"""The installed ``routerrec`` command, for tests in any folder that run it in subprocesses.

(A module, not ``conftest.py`` fixtures: plain functions; ``tests/`` is on ``sys.path``
because ``tests/conftest.py`` lives there.)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROUTERREC = str(Path(sys.executable).parent / "routerrec")


def run_many(*commands, env=None, ok=False) -> list[subprocess.CompletedProcess]:
    """Several ``routerrec`` commands (argument lists) run at once (each one's start-up is
    most of its time), their results in order; ``ok`` asserts each exited 0. ``env``, when
    given, is each command's whole environment."""
    procs = [subprocess.Popen([ROUTERREC, *map(str, args)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for args in commands]
    results = []
    for proc, args in zip(procs, commands):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    if ok:
        for result in results:
            assert result.returncode == 0, (result.args, result.stderr)
    return results
