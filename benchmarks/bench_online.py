"""Online learning by replay (issue 15): online routerrec against the router fitted once, the
offline probe run of 50 prompts, the probe run at equal probing cost, and the oracle.

    .venv/bin/python benchmarks/bench_online.py run sample --seed 0
    .venv/bin/python benchmarks/bench_online.py run openllm-v1 --seed 0 --scenario best
    .venv/bin/python benchmarks/bench_online.py table          # online.md, online.json, PNGs
    .venv/bin/python benchmarks/bench_online.py full-probes openllm-v1 --seed 45

Each ``run`` is one ``routerrec.evaluation.online.replay`` with the defaults (30% of the
prompts train the initial mf router, 20% of the models join at 25% and 50% of the stream,
the directed policy, all feedback at once unless ``--feedback-share`` / ``--feedback-delay``),
written to ``results/online_<data>_<scenario>[_<feedback>]_<seed>.json``. Scenarios:
``random`` holds out a seeded 20% of the models; ``best`` the same draw with its first model
swapped for the model that is best on the most tasks (benchmarks) over all prompts, so that a
new model is the best on some tasks. openllm-v1 samples 100 of its 5,036 models per seed
(seeded, as bench_auto does) and keeps the prompts with text.

Seeds: 100-114 are development seeds (``table --dev``: online_dev.md), on which
OnlineRouter's defaults were chosen; the reported seeds are 10-14 (the defaults before the
directed policy were reported on them; rows ``_seeds10-14``), 20-24 (fresh for the directed
policy; rows ``_seeds20-24``), 25-29 (fresh for ``factor_confidence``, run once with
the code as committed; rows ``_seeds25-29``), 30-34 (fresh for ``new_prior_scale``, run
once; rows ``_seeds30-34``) and 35-44 (declared before they ran: the same code and defaults,
run once for narrower intervals; rows ``_seeds35-39``, ``_seeds40-44`` and the fifteen
pooled, ``_seeds30-44``). Seeds 45-59 are declared here before they run, for the directed
policy's ``horizon`` test (default ``"past"``) with ``new_prior_scale`` 2, chosen on
development seeds 100-114: each run once with the defaults, once with the default before
(``--policy-param horizon=none --online new_prior_scale=4``: files
``horizon-None_new_prior_scale-4.0``, the name the earlier default's files now carry) and
once as ``full-probes``; rows ``_seeds45-59``. Files named ``new_prior_scale-1.0`` are the
default before ``new_prior_scale``. ``full-probes`` replays the ``best`` scenario with every
new model folded in from all the training prompts it answered (what knowing the new models
is worth) beside online without exploring (``full_probes.md``).
Results of the code before that (seeds 0-4) are in results/online_before/.
Each result file also splits online's regret against fixed by why online picked
(``regret_sources``; tabled per setting).
``--online KEY=VALUE`` passes another OnlineRouter keyword (e.g. ``row_noise=false``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy import stats

from routerrec.data.sample import load_sample
from routerrec.data.shared import load_openllm
from routerrec.evaluation.online import SOURCES, best_per_task, replay, report_figure
from routerrec.evaluation.report import pyplot

RESULTS = Path(__file__).resolve().parent / "results"
N_MODELS = 100
BASELINES = ("fixed", "probe-50", "probe-matched")
TAKEOVER = ("online", "probe-50", "probe-matched")


def records_of(data: str, seed: int):
    if data == "sample":
        return load_sample()
    records = load_openllm()
    models = np.random.default_rng(seed).choice(records.models, N_MODELS, replace=False)
    return records.filter(models=sorted(models))


def best_on_most_tasks(records) -> str:
    """The model that is best on the most benchmarks (``best_per_task``); ties by name."""
    wins = list(best_per_task(records).values())
    return min(set(wins), key=lambda m: (-wins.count(m), m))


def held_out(records, seed: int, scenario: str) -> list[str] | None:
    """The new models of a scenario: None (replay draws them), or for ``best`` the model best
    on the most tasks and a seeded draw of others, 20% of the models in all."""
    if scenario == "random":
        return None
    best = best_on_most_tasks(records)
    others = [m for m in records.models if m != best]
    n_new = int(round(0.2 * len(records.models)))
    rng = np.random.default_rng([seed, 2])
    return [best] + [others[i] for i in rng.permutation(len(others))[:n_new - 1]]


def run(data: str, seed: int, scenario: str, feedback_share: float, feedback_delay: int,
        policy: str, max_regret: float, method: str | None,
        converged_width: float | None = None, extra: dict | None = None,
        policy_params: dict | None = None) -> Path:
    t0 = time.perf_counter()
    records = records_of(data, seed)
    report = replay(records, seed=seed, new_models=held_out(records, seed, scenario),
                    feedback_share=feedback_share, feedback_delay=feedback_delay, policy=policy,
                    online_params={"max_regret": max_regret,
                                   **({} if converged_width is None else
                                      {"converged_width": converged_width}),
                                   **(extra or {})},
                    router_params=None if method is None else {"method": method},
                    policy_params=policy_params)
    # file names without a policy are Thompson sampling, the default before directed
    default_feedback = (feedback_share, feedback_delay, policy) == (1.0, 0, "thompson")
    tag = ((f"_{method}" if method else "") + f"_r{max_regret:g}"
           + ("" if converged_width is None else f"_w{converged_width:g}")
           + "".join(f"_{k}-{v}" for k, v in sorted({**(extra or {}),
                                                     **(policy_params or {})}.items()))
           + ("" if default_feedback else f"_{policy}_fb{feedback_share:g}_d{feedback_delay}"))
    path = RESULTS / f"online_{data}_{scenario}{tag}_{seed}.json"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=RESULTS).stdout.strip()
    report.update(data=data, scenario=scenario, wall_seconds=time.perf_counter() - t0,
                  commit=commit)
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(path.name, f"{report['wall_seconds']:.0f} s",
          {r: round(v["regret"], 1) for r, v in report["routers"].items()})
    return path


def full_probes(data: str, seed: int) -> Path:
    """What knowing the new models is worth: the replay's ``best`` scenario with each new
    model folded in on arrival from every training prompt it answered (``probes`` past any
    count), beside ``fixed`` and online without exploring (``greedy``: feedback only).
    Written to ``results/full_probes_<data>_<seed>.json``."""
    records = records_of(data, seed)
    every = f"probe-{len(records.prompts)}"
    report = replay(records, seed=seed, new_models=held_out(records, seed, "best"),
                    policy="greedy", probes=len(records.prompts))
    routers = {"probe-all" if r == every else r: v["regret"]
               for r, v in report["routers"].items()}
    path = RESULTS / f"full_probes_{data}_{seed}.json"
    path.write_text(json.dumps({"data": data, "seed": seed, "regret": routers,
                                "probe_calls": report["probe_calls"][every]}) + "\n")
    print(path.name, routers)
    return path


def full_probes_table() -> str:
    """Markdown: per data set and group of seeds (a ``POOLED`` range, the development seeds
    >= 100, else five), probe-all and greedy minus fixed."""
    runs = {}
    for p in sorted(RESULTS.glob("full_probes_*.json")):
        r = json.loads(p.read_text())
        seeds = next((pool for pool in POOLED + (range(100, 1000),) if r["seed"] in pool),
                     range(r["seed"] // 5 * 5, r["seed"] // 5 * 5 + 5))
        runs.setdefault((r["data"], seeds[0]), []).append(r)
    lines = ["| data (seeds) | fixed | probe-all | greedy | probe-all − fixed [95%] | "
             "greedy − fixed [95%] | probes per run |", "|" + "---|" * 7]
    for (data, _), rs in sorted(runs.items()):
        reg = {k: np.array([r["regret"][k] for r in rs]) for k in ("fixed", "probe-all",
                                                                   "online")}
        seeds = sorted(r["seed"] for r in rs)
        lines.append(f"| {data} ({seeds[0]}-{seeds[-1]}) | {reg['fixed'].mean():.1f} | "
                     f"{reg['probe-all'].mean():.1f} | {reg['online'].mean():.1f} | "
                     f"{_interval(reg['probe-all'] - reg['fixed'])} | "
                     f"{_interval(reg['online'] - reg['fixed'])} | "
                     f"{np.mean([r['probe_calls'] for r in rs]):.0f} |")
    return "\n".join(lines) + "\n"


def _interval(values) -> str:
    """Mean and 95% t-interval over seeds."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return f"{v.mean():+.1f}"
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():+.1f} [{v.mean() - half:+.1f}, {v.mean() + half:+.1f}]"


# seeds run once with the same code, pooled for an interval over more of them
POOLED = (range(30, 45), range(45, 60))


def _groups(dev: bool = False) -> dict:
    """Result files by setting and set of seeds: the reported seeds (10-14, 20-24, 25-29, ...
    one group per five, so seeds used before and fresh seeds stay apart; each ``POOLED``
    range also as one group), or (``dev``) the development seeds >= 100 the settings were
    chosen on."""
    groups = {}
    for p in sorted(RESULTS.glob("online_*_*.json")):
        r = json.loads(p.read_text())
        seed = r["settings"]["seed"]
        if (seed >= 100) != dev:
            continue
        key = p.stem.rsplit("_", 1)[0].removeprefix("online_")
        first = seed // 5 * 5
        groups.setdefault(key if dev else f"{key}_seeds{first}-{first + 4}", []).append(r)
        for pool in () if dev else POOLED:
            if seed in pool:
                groups.setdefault(f"{key}_seeds{pool[0]}-{pool[-1]}", []).append(r)
    return dict(sorted(groups.items()))


def table(dev: bool = False) -> str:
    """Markdown: per setting the regret of every router (mean over seeds), online minus each
    baseline with its interval, and what the best-on-task new models received; written with
    its JSON to online.json, or online_dev.json for the development seeds."""
    lines = ["| setting (seeds; requests) | " + " | ".join(("online",) + BASELINES)
             + " | online − fixed [95%] | online − probe-50 [95%] | online − probe-matched "
             "[95%] | explored share | explored calls to new models | probes: probe-50 / "
             "probe-matched |", "|" + "---|" * 11]
    takeovers = []
    summary = {}
    for key, runs in _groups(dev).items():
        regret = {r: [x["routers"][r]["regret"] for x in runs] for r in ("online",) + BASELINES}
        diffs = {b: np.subtract(regret["online"], regret[b]) for b in BASELINES}
        seeds = [x["settings"]["seed"] for x in runs]
        calls = np.mean([sum(v["explored_calls"] for v in x["new"].values()) for x in runs])
        lines.append(f"| {key} ({','.join(map(str, seeds))}; {runs[0]['n_stream']}) | "
                     + " | ".join(f"{np.mean(regret[r]):.1f}" for r in ("online",) + BASELINES)
                     + " | " + " | ".join(_interval(diffs[b]) for b in BASELINES)
                     + f" | {100 * np.mean([x['explored_share'] for x in runs]):.1f}% | "
                     + f"{calls:.1f} | " + _probes(runs) + " |")
        summary[key] = {"seeds": seeds, "regret": regret,
                        "online_minus": {b: diffs[b].tolist() for b in BASELINES}}
        for x in runs:
            for m, v in x["new"].items():
                for task, t in v["best_tasks"].items():
                    takeovers.append((key, x["settings"]["seed"], m, task, t))
    lines += ["", "Regret: cumulative over the stream against the oracle (score units; lower is "
              "better); differences below zero mean online did better. Probing: online's "
              "exploring calls to new models are real requests whose regret is counted; the "
              "probe runs' probes are offline calls whose answers are free information. "
              "Equal probing cost is probe-matched (as many probes per new model as online's "
              "exploring calls to it); probe-50 spends 50 per new model.", "",
              "| setting | seed | new model | best on | task requests | online: requests until "
              "most | online final share | probe-50 | probe-matched | oracle final share |",
              "|" + "---|" * 10]
    for key, seed, m, task, t in takeovers:
        lines.append(f"| {key} | {seed} | {m} | {task} | {t['online']['task_requests']} | "
                     f"{t['online']['requests_until_most']} | {t['online']['final_share']:.2f} | "
                     f"{t['probe-50']['final_share']:.2f} | {t['probe-matched']['final_share']:.2f}"
                     f" | {t['oracle']['final_share']:.2f} |")
    lines += ["", "Takeover: pairs (new model, task it is best on) in which the model held more "
              "than half of the trailing 50 requests of that task, and the median requests after "
              "it joined until then; mean share of the last 50 of the task's requests.", "",
              "| setting | pairs | " + " | ".join(f"{r}: most / median requests / final share"
                                                   for r in TAKEOVER) + " |",
              "|" + "---|" * (2 + len(TAKEOVER))]
    for key in summary:
        pairs = [t for k, _, _, _, t in takeovers if k == key]
        if pairs:
            lines.append(f"| {key} | {len(pairs)} | " + " | ".join(_takeover_cell(pairs, r)
                                                                  for r in TAKEOVER) + " |")
    lines += _sources(_groups(dev))
    (RESULTS / ("online_dev.json" if dev else "online.json")).write_text(json.dumps(
        {"summary": summary, "takeovers": [dict(setting=k, seed=s, model=m, task=tk, **t)
                                           for k, s, m, tk, t in takeovers]},
        indent=1, default=float) + "\n")
    return "\n".join(lines) + "\n"


def _sources(groups) -> list[str]:
    """Markdown rows: online's regret minus fixed's split by why online picked
    (``evaluation.online.SOURCES``), mean over seeds, with the decisions where its pick differed
    from fixed's; settings whose files predate the split are left out."""
    groups = {k: runs for k, runs in groups.items()
              if all("regret_sources" in x for x in runs)}
    if not groups:
        return []
    lines = ["", "Where online's regret against fixed comes from: answers lost (below zero: "
             "gained) on the decisions of each kind, mean over seeds (decisions where online's "
             "pick differed from fixed's; – : not split in files written before).", "",
             "| setting | online − fixed | " + " | ".join(SOURCES) + " |",
             "|" + "---|" * (2 + len(SOURCES))]
    for key, runs in groups.items():
        total = np.mean([x["routers"]["online"]["regret"] - x["routers"]["fixed"]["regret"]
                         for x in runs])
        cells = [f"{np.mean([x['regret_sources'][k]['regret'] for x in runs]):+.1f} "
                 f"({np.mean([x['regret_sources'][k]['decisions'] for x in runs]):.0f})"
                 if all(k in x["regret_sources"] for x in runs) else "–" for k in SOURCES]
        lines.append(f"| {key} | {total:+.1f} | " + " | ".join(cells) + " |")
    return lines


def _probes(runs) -> str:
    """Mean offline probes per run of probe-50 and probe-matched (free information: their
    answers cost no regret); "-" for result files written before they were counted."""
    if any("probe_calls" not in x for x in runs):
        return "-"
    return " / ".join(f"{np.mean([x['probe_calls'][r] for x in runs]):.1f}"
                      for r in ("probe-50", "probe-matched"))


def _takeover_cell(pairs, router: str) -> str:
    reached = [p[router]["requests_until_most"] for p in pairs
               if p[router]["requests_until_most"] is not None]
    median = f"{np.median(reached):.0f}" if reached else "-"
    return (f"{len(reached)} / {median} / "
            f"{np.mean([p[router]['final_share'] for p in pairs]):.2f}")


def plots() -> list[Path]:
    """Per setting: mean cumulative regret over seeds (band: min-max) against the stream
    fraction, and the first seed's two-panel figure (regret, new-model shares)."""
    plt = pyplot()
    paths = []
    for key, runs in _groups().items():
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        grid = np.linspace(0, 1, 101)
        for r in ("online",) + BASELINES:
            curves = np.array([np.interp(grid, np.array(x["curves"]["step"]) / x["n_stream"],
                                         x["curves"][r]) for x in runs])
            ax.plot(grid, curves.mean(0), label=r)
            ax.fill_between(grid, curves.min(0), curves.max(0), alpha=0.15)
        ax.set_xlabel("share of the stream")
        ax.set_ylabel("cumulative regret vs oracle")
        ax.set_title(f"{key}: mean over {len(runs)} seeds", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(RESULTS / f"online_{key}_regret.png")
        fig.savefig(paths[-1])
        plt.close(fig)
        fig = report_figure(runs[0])
        paths.append(RESULTS / f"online_{key}_seed{runs[0]['settings']['seed']}.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths


def _keyword(text: str) -> tuple:
    """``key=value`` of ``--online`` / ``--policy-param``: true/false as flags, none as None,
    numbers as numbers, any other text as it is."""
    key, value = text.split("=", 1)
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    if value.lower() == "none":
        return key, None
    try:
        return key, float(value)
    except ValueError:
        return key, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("data", choices=("sample", "openllm-v1"))
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--scenario", choices=("random", "best"), default="random")
    r.add_argument("--feedback-share", type=float, default=1.0)
    r.add_argument("--feedback-delay", type=int, default=0)
    r.add_argument("--policy", default="directed",
                   help="The online policy (OnlineRouter's default: directed); result files "
                        "name it unless it is thompson (the default before).")
    r.add_argument("--max-regret", type=float, default=0.3,
                   help="OnlineRouter's bound on an exploring pick's expected regret.")
    r.add_argument("--converged-width", type=float, default=None,
                   help="OnlineRouter's converged_width (default: its own).")
    r.add_argument("--online", action="append", default=[], metavar="KEY=VALUE",
                   help="Another OnlineRouter keyword (repeatable; true/false for flags, "
                        "e.g. row_noise=false), named in the result file.")
    r.add_argument("--policy-param", action="append", default=[], metavar="KEY=VALUE",
                   help="A keyword of the policy (repeatable; none for None, e.g. stop=0.05 "
                        "or beta=none for directed), named in the result file.")
    r.add_argument("--method", default=None,
                   help="The mf router's completion method (default: its own choice).")
    f = sub.add_parser("full-probes", help="The best scenario with every new model folded in "
                                           "from all its training prompts, beside greedy.")
    f.add_argument("data", choices=("sample", "openllm-v1"))
    f.add_argument("--seed", type=int, default=0)
    sub.add_parser("full-probes-table", help="full_probes.md from the full_probes_*.json files")
    t = sub.add_parser("table")
    t.add_argument("--dev", action="store_true",
                   help="The development seeds (>= 100) instead: online_dev.md, no plots.")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a.data, a.seed, a.scenario, a.feedback_share, a.feedback_delay, a.policy,
            a.max_regret, a.method, a.converged_width, dict(map(_keyword, a.online)),
            dict(map(_keyword, a.policy_param)))
    elif a.cmd == "full-probes":
        full_probes(a.data, a.seed)
    elif a.cmd == "full-probes-table":
        (RESULTS / "full_probes.md").write_text(
            "# What knowing the new models is worth (benchmarks/bench_online.py full-probes)"
            "\n\n" + full_probes_table())
        print((RESULTS / "full_probes.md").read_text())
    elif a.dev:
        (RESULTS / "online_dev.md").write_text("# Online replay, development seeds "
                                               "(benchmarks/bench_online.py)\n\n" + table(True))
        print((RESULTS / "online_dev.md").read_text())
    else:
        (RESULTS / "online.md").write_text("# Online replay (benchmarks/bench_online.py)\n\n"
                                           + table())
        print((RESULTS / "online.md").read_text(), *plots(), sep="\n")


if __name__ == "__main__":
    main()
