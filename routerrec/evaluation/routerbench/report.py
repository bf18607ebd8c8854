"""The RouterBench report: Markdown tables, one cost-quality figure per eval and the
files (``report.json``, ``report.md``, PNGs) through ``evaluation.report.write_report``."""
from __future__ import annotations

import numpy as np

from ..report import pyplot, write_report as write_files

__all__ = ["markdown_report", "report_figures", "write_report"]


def _quality_lines(title: str, t: dict) -> list:
    """One max-quality table: mean true score, difference to the baseline, gap closed."""
    dropped = t["n_dropped_unscored"]
    lines = [f"### {title} ({t['n_prompts']} test prompts"
             + (f", {dropped} without any score dropped" if dropped else "") + ")", "",
             f"| router | mean true score | − {t['baseline']} | 95% interval | "
             f"gap {t['baseline']}→oracle closed |", "|---|---|---|---|---|"]
    for r, m in t["mean_score"].items():
        d = t["minus_baseline"].get(r)
        g = t["gap_closed"].get(r)
        lines.append(f"| {r} | {m:.4f} | " + (f"{d['diff']:+.4f}" if d else "") + " | "
                     + (f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]" if d and d["ci"] else "")
                     + " | " + _number(g, ".1%") + " |")
    return lines + [""]


def _number(x, fmt: str) -> str:
    """A table cell: empty for a missing or undefined (None / NaN) number."""
    return "" if x is None or x != x else format(x, fmt)


def _eval_lines(name: str, e: dict) -> list:
    """One eval's (or the pooled) cost table: AIQ, gap closed, Pareto distance, RouterArena."""
    arena = e["arena"] or {}
    lines = [f"## {name} ({e['n_prompts']} test prompts"
             + (f", {e['n_dropped_incomplete']} dropped as incomplete"
                if e.get("n_dropped_incomplete") else "") + ")", "",
             "| router | AIQ (code) | 95% interval | AIQ (paper) | gap zero→oracle closed | "
             "Pareto distance | RouterArena S (max quality) | S (best λ) |",
             "|---|---|---|---|---|---|---|---|"]
    for r, a in e["aiq"].items():
        g = e["gap_closed"].get(r)
        ci = a["code_ci"]
        s = arena.get("routers", {}).get(r) or {}
        lines.append(f"| {r} | {a['code']:.4f} | "
                     + (f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
                     + f" | {_number(a.get('paper'), '.4f')} | "
                     + (f"{g['share']:.1%}" if g else "") + " | "
                     + _number(e["pareto_distance"].get(r), ".4f") + " | "
                     + _number(s.get("max_quality", arena.get("oracle") if r == "oracle" else None),
                               ".4f")
                     + " | " + _number(s.get("best"), ".4f") + " |")
    if arena:
        best = max(arena["single_models"].items(), key=lambda kv: kv[1])
        lines += ["", f"RouterArena: β = {arena['beta']}, cost per 1,000 queries normalised "
                  f"on a log scale between {arena['c_min_per_1000']:.4g} and "
                  f"{arena['c_max_per_1000']:.4g} (RouterArena's range); best single model {best[0]}, "
                  f"S = {best[1]:.4f}."]
    return lines + [""]


def _summary_lines(summary: dict) -> list:
    lines = ["## Summary", "",
             "| router | mean AIQ (code) | mean gap closed | pooled gap closed | "
             "AIQ ≥ zero router on | pooled Pareto distance | pooled RouterArena S (max quality) |",
             "|---|---|---|---|---|---|---|"]
    for r, x in summary.items():
        lines.append(f"| {r} | {x['mean_aiq_code']:.4f} | {x['mean_gap_closed']:.1%} | "
                     f"{x['pooled_gap_closed']:.1%} | "
                     f"{', '.join(x['beats_zero_on']) or 'none'} | "
                     f"{x['pooled_pareto_distance']:.4f} | "
                     + _number((x["pooled_arena"] or {}).get("max_quality"), ".4f") + " |")
    return lines + [""]


def _pair_lines(pair: dict) -> list:
    """RouteLLM's table: APGR, CPT(50%), CPT(80%) per router, pooled and per eval."""
    lines = [f"## Strong / weak pair (RouteLLM): {pair['strong']} vs {pair['weak']}", "",
             "Share of calls to the strong model by threshold on the predicted score margin; "
             "APGR = gap recovered averaged over that share, CPT(x%) = share of strong calls "
             "needed to recover x% of the gap.", ""]
    tables = [("all test prompts (pooled)", pair["pooled"]), *pair["evals"].items()]
    for title, t in tables:
        if t is None:
            continue
        lines += [f"### {title} ({t['n_prompts']} prompts; strong {t['strong_score']:.4f}, "
                  f"weak {t['weak_score']:.4f})", "",
                  "| router | APGR | CPT(50%) | CPT(80%) |", "|---|---|---|---|"]
        for r, m in t["routers"].items():
            lines.append(f"| {r} | {_number(m['apgr'], '.4f')} | {_number(m['cpt50'], '.1%')} | "
                         f"{_number(m['cpt80'], '.1%')} |")
        if t["strong_score"] <= t["weak_score"]:
            lines += ["", "The strong model does not beat the weak one here: no gap to recover."]
        lines.append("")
    if pair["evals_without_both"]:
        lines += [f"No prompt scored for both models in: {', '.join(pair['evals_without_both'])}.",
                  ""]
    return lines


def markdown_report(report: dict) -> str:
    """With costs: one table per eval and pooled (AIQ (code, with 95% interval), AIQ
    (paper), share of the gap closed, Pareto distance, RouterArena) and a summary; with a
    strong / weak pair: RouteLLM's APGR and CPT; always: the max-quality tables."""
    s = report["settings"]
    lines = ["# RouterBench-style evaluation", ""]
    if s.get("ood"):
        lines += [f"Out of distribution: the prompts of {', '.join(s['ood'])} were removed from "
                  f"training ({s['ood_train_prompts_dropped']} prompts); only their test "
                  "prompts are judged.", ""]
    if s["costs"]:
        lines += [f"AIQ computed jointly per eval; reported definition: `code` (RouterBench's code). "
                  f"{s['n_lambdas']} willingness-to-pay values (RouterBench's 32 included); "
                  f"{s['bootstrap']} bootstrap resamples of the test prompts.", ""]
    else:
        lines += [f"The records have no costs, so no AIQ: each router's max-quality picks "
                  f"against best-single, task-best and the oracle; {s['bootstrap']} bootstrap "
                  "resamples of the test prompts.", ""]
    for name, e in report["evals"].items():
        lines += _eval_lines(name, e)
    if s["costs"]:
        lines += _eval_lines("all test prompts (pooled)", report["pooled"])
        lines += _summary_lines(report["summary"])
    if report.get("pair"):
        lines += _pair_lines(report["pair"])
    q = report["max_quality"]
    lines += ["## Max quality (no willingness to pay)", "",
              f"best-single: {q['best_single']}; task-best: "
              + (", ".join(f"{t} → {m}" for t, m in q["task_best"].items()) or "none (no task "
                 "labels in training)")
              + (f" (task classifier's cross-validated accuracy on the training prompts, for "
                 f"task-best (text): {q['task_classifier_accuracy']:.1%})"
                 if q.get("task_classifier_accuracy") is not None else "")
              + f"; cluster-best: {len(q['cluster_best'])} k-means clusters of the prompt "
                "texts; random: its expected score.", ""]
    lines += _quality_lines("all test prompts (pooled)", q["pooled"])
    for name, t in q["evals"].items():
        lines += _quality_lines(name + ("" if t["task_seen_in_training"]
                                        else ", task absent from training"), t)
    return "\n".join(lines)


def report_figures(report: dict):
    """``(name, figure)`` per eval: cost (log axis) vs quality, hulls, single models, oracle.
    None without costs (``report["evals"]`` is empty): a table says it all."""
    plt = pyplot()
    for name, e in report["evals"].items():
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        single = e["single_models"]
        ax.scatter([s["cost"] for s in single], [s["quality"] for s in single], c="grey", s=18,
                   label="single models", zorder=3)
        for s in single:
            ax.annotate(s["model"], (s["cost"], s["quality"]), fontsize=6, alpha=0.7)
        oc = np.array(e["oracle_curve"]["hull"])
        ax.plot(oc[:, 0], oc[:, 1], ":", c="goldenrod", lw=1,
                label=f"oracle curve (AIQ {e['aiq']['oracle']['code']:.3f})")
        z = np.array(e["zero_router"]["hull"])
        ax.plot(z[:, 0], z[:, 1], "k--", lw=1, label=f"zero router (AIQ {e['aiq']['zero']['code']:.3f})")
        for r, d in e["routers"].items():
            h = np.array(d["hull"])
            line, = ax.plot(h[:, 0], h[:, 1], "-", lw=1.5,
                            label=f"{r} (AIQ {e['aiq'][r]['code']:.3f})")
            p = np.array([[q["cost"], q["quality"]] for q in d["points"]])
            ax.scatter(p[:, 0], p[:, 1], s=6, color=line.get_color(), alpha=0.4)
        ax.scatter([e["oracle"]["cost"]], [e["oracle"]["quality"]], marker="*", s=120, c="gold",
                   edgecolors="k", label="oracle", zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel("total cost of the test prompts")
        ax.set_ylabel("mean score")
        ax.set_title(f"{name}: cost-quality")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        yield _slug(name), fig


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def write_report(report: dict, out_dir) -> dict:
    """Write ``report.json``, ``report.md`` and one PNG per eval into ``out_dir``
    (``routerrec.evaluation.report.write_report``: strict JSON, atomic files)."""
    return write_files(out_dir, report, markdown_report(report), report_figures(report))
