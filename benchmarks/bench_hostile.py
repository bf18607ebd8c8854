"""Hostile-input sweep: bad options, bad files of every layout, damaged model and router
directories and bad API arguments, each run in a fresh process with a timeout.

    python benchmarks/bench_hostile.py [--workers 2] [--timeout 60] [--only WORD]

Every outcome is classified (``classify``): ``clear error`` (exit status != 0, exactly one
``Error:`` line, no traceback, holding the words the case names), ``ok`` (exit 0 where
success is right), and the failures ``traceback``, ``internal error`` (the CLI's one line
for a bug), ``vague error`` (one clean line that does not name the option or file),
``crash`` (non-zero status without an ``Error:`` line), ``hang`` (timeout), ``silent
success`` (exit 0 where an error was the right answer) and ``unexpected error``. Each case
runs in its own folder; ``lost`` counts cases after which a file the user had there is
missing or changed, ``leaked`` cases that left anything behind after an error, or a hidden
temporary (``.NAME.tmp-*``, ``.NAME.lock``) after success. Writes
benchmarks/results/hostile.json and prints a table of counts per group.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hostile_setup
from hostile_cases import Case, all_cases

RESULTS = Path(__file__).resolve().parent / "results"
ROUTERREC = str(Path(sys.executable).parent / "routerrec")
GOOD = {"clear error", "ok"}

# The API harness: an exception the package raised on purpose (the CLI's rule,
# routerrec.cli.errors.user_message) is printed as one Error: line; any other propagates.
HARNESS = """
import sys
from routerrec.cli.errors import user_message
try:
    exec(compile(sys.argv[1], "<case>", "exec"), {"FIX": sys.argv[2]})
except Exception as exc:
    message = user_message(exc)
    if message is None:
        raise
    print(f"Error: {type(exc).__name__}: {message}", file=sys.stderr)
    sys.exit(2)
"""


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content digest (or the kind of a non-regular file), without opening
    anything but regular files."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            mode = path.lstat().st_mode
            key = str(path.relative_to(folder))
            if stat.S_ISREG(mode):
                out[key] = hashlib.sha1(path.read_bytes()).hexdigest()
            else:
                out[key] = "dir" if stat.S_ISDIR(mode) else f"mode {stat.S_IFMT(mode):o}"
    return out


def classify(case: Case, returncode: int | None, stderr: str) -> str:
    """The outcome of one run (see the module doc)."""
    if returncode is None:
        return "hang"
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    if returncode == 0:
        return "ok" if case.expect in ("ok", "any") else "silent success"
    if len(lines) != 1:
        return "crash"
    if "internal error" in lines[0]:
        return "internal error"
    if case.expect == "ok":
        return "unexpected error"
    named = all(word.lower() in lines[0].lower() for word in case.names)
    return "clear error" if named else "vague error"


def _row(case: Case, outcome: str, error: str | None = None) -> dict:
    return {"name": case.name, "group": case.group, "expect": case.expect, "outcome": outcome,
            "seconds": 0.0, "returncode": None, "error": error, "stderr_tail": None, "lost": [],
            "leaked": []}


def run_case(index: int, case: Case, work: Path, fix: Path, timeout: float,
             deadline: float) -> dict:
    if time.perf_counter() > deadline:
        return _row(case, "not run (time)")
    folder = work / f"{index:03d}"
    folder.mkdir()
    try:
        if case.setup is not None:
            case.setup(folder)
    except Exception as exc:  # noqa: BLE001 - a broken case is reported, the sweep goes on
        return _row(case, "setup failed", f"{type(exc).__name__}: {exc}")
    before = snapshot(folder)
    if case.code is not None:
        cmd = [sys.executable, "-c", HARNESS, case.code, str(fix)]
    else:
        cmd = [ROUTERREC, *(a.replace("{fix}", str(fix)) for a in case.argv)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=timeout)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, stderr = proc.communicate()
        returncode = None
    seconds = time.perf_counter() - t0
    outcome = classify(case, returncode, stderr)
    after = snapshot(folder)
    changed = [p for p, digest in before.items()
               if after.get(p) != digest and not p.startswith(case.may_change)]
    new = [p for p in after if p not in before]
    hidden = [p for p in new if any(part.startswith(".") for part in Path(p).parts)]
    leaked = hidden if outcome == "ok" else new
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    return {"name": case.name, "group": case.group, "expect": case.expect, "outcome": outcome,
            "seconds": round(seconds, 2), "returncode": returncode,
            "error": errors[0][:300] if len(errors) == 1 else None,
            "stderr_tail": None if outcome in GOOD else stderr[-600:],
            "lost": changed, "leaked": leaked[:10]}


def summarise(rows: list[dict]) -> dict:
    counts = collections.Counter(r["outcome"] for r in rows)
    by_group = collections.defaultdict(collections.Counter)
    for r in rows:
        by_group[r["group"]][r["outcome"]] += 1
        by_group[r["group"]]["lost"] += bool(r["lost"])
        by_group[r["group"]]["leaked"] += bool(r["leaked"])
    return {"cases": len(rows), "outcomes": dict(counts),
            "lost": sum(bool(r["lost"]) for r in rows),
            "leaked": sum(bool(r["leaked"]) for r in rows),
            "by_group": {g: dict(c) for g, c in sorted(by_group.items())}}


def print_table(rows: list[dict], summary: dict) -> None:
    columns = ["clear error", "ok", "traceback", "internal error", "vague error", "crash",
               "hang", "silent success", "unexpected error", "not run (time)", "lost", "leaked"]
    width = max(len(g) for g in summary["by_group"]) + 2
    print("group".ljust(width) + "  ".join(c.replace(" ", "-") for c in columns) + "  total")
    for group, counts in summary["by_group"].items():
        total = sum(counts.get(c, 0) for c in columns[:-2])
        print(group.ljust(width) + "  ".join(str(counts.get(c, 0)).rjust(len(c))
                                             for c in columns) + f"  {total:5d}")
    bad = [r for r in rows if r["outcome"] not in GOOD or r["lost"] or r["leaked"]]
    print(f"\n{summary['cases']} cases; {len(bad)} not handled well:")
    for r in bad:
        detail = r["error"] or (r["stderr_tail"] or "").strip().splitlines()[-1:] or ""
        flags = (" LOST " + ",".join(r["lost"]) if r["lost"] else "") + \
                (" LEAKED " + ",".join(r["leaked"]) if r["leaked"] else "")
        print(f"  [{r['outcome']}] {r['group']}: {r['name']}{flags}: {str(detail)[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--timeout", type=float, default=45.0, help="seconds before 'hang'")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="no case starts this many seconds after the sweep started (the "
                             "sweep ends within budget + timeout); those left are 'not run'")
    parser.add_argument("--only", default=None, help="run the cases whose name holds this")
    args = parser.parse_args()
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="routerrec-hostile-"))
    try:
        fix = work / "fixtures"
        hostile_setup.build_fixtures(fix)
        fixtures_before = snapshot(fix)
        cases = [c for c in all_cases() if args.only is None or args.only in c.name]
        (work / "cases").mkdir()
        with ThreadPoolExecutor(args.workers) as pool:
            deadline = t0 + args.budget
            rows = list(pool.map(lambda ic: run_case(ic[0], ic[1], work / "cases", fix,
                                                     args.timeout, deadline), enumerate(cases)))
        fixtures_changed = snapshot(fix) != fixtures_before
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {**summarise(rows), "fixtures_changed": fixtures_changed,
               "seconds": round(time.perf_counter() - t0, 1), "workers": args.workers,
               "timeout": args.timeout}
    print_table(rows, summary)
    print(f"\nfixtures changed by a case: {fixtures_changed}; {summary['seconds']} s")
    if args.only is None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / "hostile.json"
        path.write_text(json.dumps({"summary": summary, "cases": rows}, indent=1))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
