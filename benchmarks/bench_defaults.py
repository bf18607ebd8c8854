"""Completion with the defaults (``method="auto"``) against the alternatives, by data size.

Held-out cells (``split_cells(0.1, seed)``, seeds 0-2) of real record sets with 10 to 5,036
models: openllm-v1 subsampled to 10, 20 and 50 models (a new subsample per seed) and in
full, RouterBench's training split (11 models) and MMLU-Pro (29 models), all 0/1 scores.
Reports RMSE, AUC and log-loss per configuration (means over seeds) and the defaults' RMSE
as a ratio to the best configuration's on each set. The rule in ``routerrec.methods.auto``
was designed on other seeds (100-102) and subsamples.

Run from the repository root (about 15 minutes on the shared 2-core machine):
    .venv/bin/python benchmarks/bench_defaults.py [--seeds 0,1,2] [--sets openllm-10,...]
Writes benchmarks/results/defaults.{json,md}.
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

import routerrec
from routerrec.data.shared import load_mmlu_pro, load_openllm, load_routerbench, shared_data_dir
from routerrec.evaluation.metrics import score_model
from routerrec.util.files import atomic_write

CONFIGS = [{"method": "auto"}, {"method": "als"}, {"method": "als", "rank": 8},
           {"method": "logistic"}, {"method": "logistic", "rank": 8},
           {"method": "logistic", "rank": 4, "members": 1}]
SETS = ("openllm-10", "openllm-20", "openllm-50", "routerbench", "mmlu-pro", "openllm-full")


def name(config):
    rest = ",".join(f"{k}={v}" for k, v in config.items() if k != "method")
    return f"{config['method']}({rest})"


def record_set(which, seed, cache):
    if which.startswith("openllm"):
        full = cache.setdefault("openllm", load_openllm())
        if which == "openllm-full":
            return full
        n = int(which.split("-")[1])
        models = np.array(full.models)
        pick = np.random.default_rng(seed).choice(len(models), n, replace=False)
        return full.filter(models=list(models[pick]))
    if which == "routerbench":
        return cache.setdefault(which, load_routerbench(split="train"))
    return cache.setdefault(which, load_mmlu_pro())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "defaults"))
    args = parser.parse_args()
    if shared_data_dir() is None:
        print("../shared/data is not here; nothing to do.")
        return
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    seeds = [int(s) for s in args.seeds.split(",")]
    cache, rows = {}, []
    for which in args.sets.split(","):
        for seed in seeds:
            train, test = record_set(which, seed, cache).split_cells(0.1, seed)
            for config in CONFIGS:
                params = {k: v for k, v in config.items() if k != "method"}
                t0 = time.perf_counter()
                model = routerrec.fit(train, method=config["method"], **params)
                seconds = time.perf_counter() - t0
                rows.append({"set": which, "seed": seed, "config": name(config),
                             "picked": f"{model.method}(rank={model.params['rank']})",
                             "seconds": seconds, **score_model(model, test)})
                print(which, seed, name(config), f"{seconds:.1f} s rmse {rows[-1]['rmse']:.4f}")
    summary = {}
    for which in dict.fromkeys(r["set"] for r in rows):
        per = {}
        for config in CONFIGS:
            mine = [r for r in rows if r["set"] == which and r["config"] == name(config)]
            per[name(config)] = {m: float(np.mean([r[m] for r in mine]))
                                 for m in ("rmse", "auc", "log_loss", "seconds")}
            per[name(config)]["picked"] = sorted({r["picked"] for r in mine})
        best = min(per, key=lambda c: per[c]["rmse"])
        summary[which] = {"configs": per, "best": best,
                          "defaults_vs_best_rmse": per["auto()"]["rmse"] / per[best]["rmse"]}
    lines = [f"# Completion defaults (`method=\"auto\"`) vs alternatives: held-out 10% of cells, "
             f"seeds {seeds}", ""]
    for which, s in summary.items():
        lines += [f"## {which}: defaults pick {', '.join(s['configs']['auto()']['picked'])}; "
                  f"defaults / best RMSE = **{s['defaults_vs_best_rmse']:.3f}** (best: {s['best']})",
                  "", "| configuration | RMSE | AUC | log-loss | fit s |", "|---|---|---|---|---|"]
        for config, v in sorted(s["configs"].items(), key=lambda kv: kv[1]["rmse"]):
            lines.append(f"| {config} | {v['rmse']:.4f} | {v['auc']:.4f} | {v['log_loss']:.4f} "
                         f"| {v['seconds']:.1f} |")
        lines.append("")
    out = Path(args.out)
    atomic_write(out.with_suffix(".json"), lambda p: p.write_text(
        json.dumps({"seeds": seeds, "summary": summary, "rows": rows}, indent=1)))
    atomic_write(out.with_suffix(".md"), lambda p: p.write_text("\n".join(lines)))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
