"""The property-based suites (hypothesis) under the long profile: 20,000 cases per property
instead of the 200 of the normal test run (tests/properties.py).

    .venv/bin/python benchmarks/bench_properties.py [--examples 20000] [--only WORD]

Runs every test module whose name holds "propert" (readers, layouts, option parsers, model and
router directories, method parameters, reports) in one pytest process and writes
benchmarks/results/properties.json: the exit status, the seconds, pytest's closing line and the
line with the number of cases generated per property. Hours at the default on 2 cores; pass
--examples 2000 for a run of about ten minutes.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "properties.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=None,
                    help="cases per property (default: the long profile's 20,000)")
    ap.add_argument("--only", default="propert", help="pytest -k expression")
    args = ap.parse_args()
    env = dict(os.environ, HYPOTHESIS_PROFILE="long")
    if args.examples is not None:
        env["ROUTERREC_PROPERTY_EXAMPLES"] = str(args.examples)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-k", args.only, "tests"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    lines = proc.stdout.splitlines()
    result = {"returncode": proc.returncode, "seconds": round(time.perf_counter() - t0, 1),
              "examples_per_property": args.examples or 20_000,
              "cases": next((x for x in lines if x.startswith("hypothesis generated")), None),
              "summary": lines[-1] if lines else proc.stderr[-500:]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
