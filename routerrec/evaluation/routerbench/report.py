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
                     + " | " + (f"{g:.1%}" if g is not None else "") + " |")
    return lines + [""]


def markdown_report(report: dict) -> str:
    """With costs: one table per eval (AIQ (code, with 95% interval), AIQ (paper), share of
    the gap closed) and a summary; always: the max-quality tables, per eval and pooled."""
    s = report["settings"]
    lines = ["# RouterBench-style evaluation", ""]
    if s["costs"]:
        lines += [f"AIQ computed jointly per eval; reported definition: `code` (RouterBench's code). "
                  f"{s['n_lambdas']} willingness-to-pay values (RouterBench's 32 included); "
                  f"{s['bootstrap']} bootstrap resamples of the test prompts.", ""]
    else:
        lines += [f"The records have no costs, so no AIQ: each router's max-quality picks "
                  f"against best-single, task-best and the oracle; {s['bootstrap']} bootstrap "
                  "resamples of the test prompts.", ""]
    for name, e in report["evals"].items():
        lines += [f"## {name} ({e['n_prompts']} test prompts"
                  + (f", {e['n_dropped_incomplete']} dropped as incomplete" if e["n_dropped_incomplete"] else "")
                  + ")", "",
                  "| router | AIQ (code) | 95% interval | AIQ (paper) | gap zero→oracle closed |",
                  "|---|---|---|---|---|"]
        for r, a in e["aiq"].items():
            g = e["gap_closed"].get(r)
            ci = a["code_ci"]
            lines.append(f"| {r} | {a['code']:.4f} | "
                         + (f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "") + f" | {a['paper']:.4f} | "
                         + (f"{g['share']:.1%}" if g else "") + " |")
        lines.append("")
    if s["costs"]:
        lines += ["## Summary", "",
                  "| router | mean AIQ (code) | mean gap closed | pooled gap closed | "
                  "AIQ ≥ zero router on |", "|---|---|---|---|---|"]
        for r, x in report["summary"].items():
            lines.append(f"| {r} | {x['mean_aiq_code']:.4f} | {x['mean_gap_closed']:.1%} | "
                         f"{x['pooled_gap_closed']:.1%} | "
                         f"{', '.join(x['beats_zero_on']) or 'none'} |")
        lines.append("")
    q = report["max_quality"]
    lines += ["## Max quality (no willingness to pay)", "",
              f"best-single: {q['best_single']}; task-best: "
              + ", ".join(f"{t} → {m}" for t, m in q["task_best"].items()) + ".", ""]
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
