"""Cold start with the defaults, by data size: does adding a new LLM work with 10 models?

On the shared openllm-v1 (0/1 correctness, 1,075 items, 5,036 models) subsampled to 10, 20
and 50 models (seeded) and on the full set: leave 20% of the models out, fit with the
defaults (``routerrec.fit(records)``: method ``auto``), probe every held-out model with the
default strategy (``coldstart.probes.default_strategy``) and report, over 5 seeds, the
per-benchmark accuracy MAE at 20 / 50 / 100 probes against the naive estimate (the mean
answer of random probes, per benchmark), the coverage of the 95% intervals, and failures.
The same seeds also run the alternatives (other methods, ranks and strategies), so the
defaults can be compared with the best configuration found on each size.

The rule behind the defaults was designed on other subsamples (seeds 100-107; their run
with the final code: --seeds 100,...,107 --out benchmarks/results/coldstart_sizes_design); the
seeds here (0-4) were not used to design it.

Run from the repository root (10, 20 and 50 models take under a minute each on the shared
2-core machine, the full set about 17 minutes):
    .venv/bin/python benchmarks/bench_coldstart_sizes.py [--sizes 10,20,50,full] [--seeds 0,1,2,3,4]
Writes benchmarks/results/coldstart_sizes/size_<N>.json per size run, then report.md and
report.png from every size file there (so one size can be re-run alone).
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from routerrec.data.shared import load_openllm, shared_data_dir
from routerrec.evaluation.coldstart import evaluate_coldstart
from routerrec.evaluation.report import pyplot
from routerrec.util.files import atomic_write

BUDGETS = (20, 50, 100)
STRATEGIES = ("random", "stratified", "adaptive")
DEFAULTS = {"method": "auto", "params": {}}
ALTERNATIVES = [{"method": "als", "params": {}}, {"method": "als", "params": {"rank": 8}},
                {"method": "logistic", "params": {"rank": 4, "members": 1}},
                {"method": "logistic", "params": {"rank": 8, "members": 1}},
                {"method": "logistic", "params": {"rank": 16, "members": 1}}]


def label(config: dict, strategy: str) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(config["params"].items()))
    return f"{config['method']}({params}) + {strategy}"


def interval(values) -> list:
    """Mean and a 95% t-interval over seeds."""
    from scipy.stats import t

    v = np.asarray(values, float)
    half = t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return [float(v.mean()), float(v.mean() - half), float(v.mean() + half)]


def run_size(records, size, seeds, max_models):
    """Per seed: the defaults' rows and every alternative's, keyed by label."""
    models = np.array(records.models)
    runs, failures = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        sub = (records if size == "full" else
               records.filter(models=list(models[rng.choice(len(models), size, replace=False)])))
        rows = {}
        for config in [DEFAULTS, *ALTERNATIVES]:
            t0 = time.perf_counter()
            try:
                report = evaluate_coldstart(sub, holdout_models=0.2, budgets=BUDGETS,
                                            strategies=STRATEGIES, method=config["method"],
                                            params=config["params"], seed=seed,
                                            max_models=max_models)
            except Exception as exc:  # a failure is a result here: counted and reported
                failures.append({"size": size, "seed": seed, "config": config,
                                 "error": f"{type(exc).__name__}: {exc}"})
                continue
            for strategy, per in report["results"].items():
                cells = {k: {m: per[k][m] for m in ("mae", "naive_mae", "coverage",
                                                    "interval_width")} for k in per}
                if config is DEFAULTS and strategy == report["default_strategy"]:
                    rows["defaults"] = {"picked": f"{report['method']}"
                                                  f"(rank={report['params']['rank']}) + "
                                                  f"{strategy}", **cells}
                rows[label(config, strategy)] = cells
                if strategy == "random":
                    rows["naive (random probes)"] = {
                        k: {"mae": per[k]["naive_mae"]} for k in per}
            print(f"  size {size} seed {seed} {config['method']} {config['params']}: "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        runs.append(rows)
    return runs, failures


def summarise(runs) -> dict:
    """Per label and budget: MAE and coverage intervals over seeds (labels every seed has)."""
    labels = set.intersection(*(set(r) for r in runs)) if runs else set()
    out = {}
    for name in sorted(labels):
        out[name] = {}
        for k in BUDGETS:
            cells = [r[name][k] for r in runs]
            out[name][k] = {"mae": interval([c["mae"] for c in cells])}
            if "coverage" in cells[0]:
                out[name][k]["coverage"] = interval([c["coverage"] for c in cells])
    picked = sorted({r["defaults"]["picked"] for r in runs if "defaults" in r})
    return {"rows": out, "defaults_picked": picked}


def markdown(report) -> str:
    lines = ["# Cold start with the defaults, by data size (openllm-v1, 20% of models held out,"
             f" seeds {report['seeds']})", "",
             "MAE in accuracy points (mean over seeds, 95% t-interval), coverage of the 95% "
             "intervals; `naive` is the mean answer of random probes per benchmark.", ""]
    for size, s in report["sizes"].items():
        rows = s["rows"]
        if "defaults" not in rows:
            lines += [f"## {size} models: no complete run", ""]
            continue
        others = {n: r for n, r in rows.items() if n not in ("defaults", "naive (random probes)")}
        best = min(others, key=lambda n: others[n][50]["mae"][0])
        d50, b50 = rows["defaults"][50]["mae"][0], others[best][50]["mae"][0]
        n50 = rows["naive (random probes)"][50]["mae"][0]
        lines += [f"## {size} models: defaults = {', '.join(s['defaults_picked'])}", "",
                  f"defaults / naive at 50 probes: **{d50 / n50:.2f}**; defaults / best "
                  f"configuration found ({best}): **{d50 / b50:.2f}**; failures: "
                  f"**{s['failures']}**", "",
                  "| configuration | MAE @20 | MAE @50 | MAE @100 | coverage @20 | @50 | @100 |",
                  "|---|---|---|---|---|---|---|"]
        for name in ["defaults", "naive (random probes)",
                     *sorted(others, key=lambda n: others[n][50]["mae"][0])]:
            r = rows[name]
            mae = [f"{r[k]['mae'][0]:.2f} ({r[k]['mae'][1]:.2f}–{r[k]['mae'][2]:.2f})"
                   for k in BUDGETS]
            cov = [f"{r[k]['coverage'][0]:.2f}" if "coverage" in r[k] else "" for k in BUDGETS]
            lines.append(f"| {name} | " + " | ".join(mae + cov) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(report):
    plt = pyplot()
    sizes = list(report["sizes"])
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.6), dpi=100, squeeze=False)
    for ax, size in zip(axes[0], sizes):
        rows = report["sizes"][size]["rows"]
        for name, style in (("defaults", "o-"), ("naive (random probes)", "k--")):
            if name in rows:
                ax.plot(BUDGETS, [rows[name][k]["mae"][0] for k in BUDGETS], style, label=name)
                ax.fill_between(BUDGETS, [rows[name][k]["mae"][1] for k in BUDGETS],
                                [rows[name][k]["mae"][2] for k in BUDGETS], alpha=0.2)
        ax.set_title(f"{size} models")
        ax.set_xlabel("probes")
        ax.set_ylabel("accuracy MAE (points)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,20,50,full")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--max-models", type=int, default=100,
                        help="Held-out models scored per run (the full set holds out 1,007).")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "coldstart_sizes"),
                        help="Folder of the per-size results and the report.")
    args = parser.parse_args()
    if shared_data_dir("openllm-v1") is None:
        print("../shared/data/openllm-v1 is not here; nothing to do.")
        return
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    records = load_openllm()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    for size in args.sizes.split(","):
        t0 = time.perf_counter()
        runs, failures = run_size(records, size if size == "full" else int(size), seeds,
                                  args.max_models)
        done = {**summarise(runs), "failures": len(failures), "failures_detail": failures,
                "seeds": seeds, "seconds": time.perf_counter() - t0}
        atomic_write(out / f"size_{size}.json",
                     lambda p, done=done: p.write_text(json.dumps(done, indent=1, default=str)))
    write_report(out)


def write_report(out: Path) -> None:
    """report.md and report.png from every size_*.json in ``out`` (smallest size first)."""
    def order(f):
        return (f.stem == "size_full", int(f.stem[5:]) if f.stem[5:].isdigit() else 0)

    sizes = {}
    for f in sorted(out.glob("size_*.json"), key=order):
        size = json.loads(f.read_text())
        size["rows"] = {name: {int(k): v for k, v in per.items()}  # JSON keys are strings
                        for name, per in size["rows"].items()}
        sizes[f.stem[5:]] = size
    report = {"seeds": sorted({s for v in sizes.values() for s in v["seeds"]}), "sizes": sizes}
    text = markdown(report)
    atomic_write(out / "report.md", lambda p: p.write_text(text))
    atomic_write(out / "report.png", lambda p: figure(report).savefig(p, format="png"))
    print(text)

if __name__ == "__main__":
    main()
