"""The pool sweep's report: one Markdown table per benchmark and a PNG per group, written
by the evaluations' one writer (``routerrec.evaluation.report``)."""
from __future__ import annotations

import polars as pl

from ..report import pyplot, write_report as write_files
from .metrics import REFERENCE_ROUTERS
from .validation import CROSS_VALIDATED, CV_FOLDS, VALIDATED, VALIDATED_POOLED, split_name

__all__ = ["markdown_report", "report_figures", "write_report"]


def _router_order(report: dict) -> list:
    return list(report["settings"]["routers"]) + list(REFERENCE_ROUTERS)


def markdown_report(report: dict) -> str:
    """One table per benchmark: rows routers, columns m x group, cells "V_B (mu)"."""
    s = report["settings"]
    lines = [f"# Candidate-pool sweep ({s['source']})", "",
             f"**Pool selection:** {report['selection']}.", "",
             f"Seeds {s['seeds']}, draws per seed {s['draws']}, split "
             f"{s['split']['train']:.0%}/{s['split']['val']:.0%}/{s['split']['test']:.0%} "
             "(train/val/test). Cells: V_B (mu), mean over seeds; V_B = mu / test mean of "
             "the pool's best single model identified on training prompts. "
             f"NAME{VALIDATED}: NAME on pools where it beats best-single on the pool's "
             f"validation prompts, else best-single; NAME{VALIDATED_POOLED}: the same choice "
             "made once per benchmark, pool size and seed on the validation prompts of all "
             f"its pools; NAME{CROSS_VALIDATED}: the per-pool choice made on out-of-fold "
             f"predictions for the training prompts ({CV_FOLDS} folds) and the validation "
             "prompts (share of pools routed in the last table).",
             ""]
    cells = {(c["benchmark"], c["group"], c["m"], c["router"]): c for c in report["summary"]["cells"]}
    cols = [(m, g) for m in s["pools"] for g in s["groups"]]
    for bench in s["benchmarks"]:
        lines += [f"## {bench}", "",
                  "| router | " + " | ".join(f"m={m} {g}" for m, g in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for r in _router_order(report):
            vals = []
            for m, g in cols:
                c = cells.get((bench, g, m, r))
                vals.append("–" if c is None else f"{c['v_b']:.3f} ({c['mu']:.3f})")
            lines.append(f"| {r} | " + " | ".join(vals) + " |")
        lines.append("")
    lines += ["## Averaged over benchmarks and groups", "",
              "| router | " + " | ".join(f"m={m}" for m in s["pools"]) + " |",
              "|---|" + "---|" * len(s["pools"])]
    overall = {(o["m"], o["router"]): o for o in report["summary"]["overall"]}
    for r in _router_order(report):
        vals = []
        for m in s["pools"]:
            o = overall.get((m, r))
            routed = (f", routed {1 - o['w_best']:.0%}" if o is not None and split_name(r)[1]
                      else "")
            vals.append("–" if o is None else f"{o['v_b']:.3f} [{o['v_b_lo']:.3f}, "
                        f"{o['v_b_hi']:.3f}] (mu {o['mu']:.3f}{routed})")
        lines.append(f"| {r} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def report_figures(report: dict):
    """``(name, figure)`` per group: mu and V_B against pool size (log axis), averaged over
    benchmarks."""
    plt = pyplot()
    frame = pl.DataFrame(report["summary"]["cells"])
    shown = list(report["settings"]["routers"]) + ["oracle", "best-single", "cluster-best", "random"]
    bases = list(dict.fromkeys(split_name(r)[0] for r in report["settings"]["routers"]))
    for group in report["settings"]["groups"]:
        part = frame.filter(pl.col("group") == group)
        if part.height == 0:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), dpi=110)
        for ax, metric, label in ((axes[0], "mu", "mu (mean score of picks)"),
                                  (axes[1], "v_b", "V_B (mu / best single)")):
            for r in shown:
                line = (part.filter(pl.col("router") == r).group_by("m")
                        .agg(pl.col(metric).mean()).sort("m"))
                if line.height:
                    ax.plot(line["m"].to_list(), line[metric].to_list(), label=r,
                            **_line_style(r, bases))
            ax.set_xscale("log")
            ax.set_xlabel("pool size m (log)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.suptitle(f"{group}: averaged over {', '.join(report['settings']['benchmarks'])} "
                     f"({'training-only' if report['settings']['select_on'] == 'train' else 'RouterEval'} selection)",
                     fontsize=9)
        fig.tight_layout()
        yield f"pools_{group}", fig



# Plot styles: one colour per base router, one line style per validated form, reference
# routers in greys, so a dozen lines stay tellable apart.
_SUFFIX_STYLE = {"": "-", VALIDATED: "-.", VALIDATED_POOLED: ":", CROSS_VALIDATED: "--"}
_REFERENCE_STYLE = {"oracle": ("black", "^"), "best-single": ("dimgrey", "s"),
                    "random": ("darkgrey", "v"), "cluster-best": ("slategrey", "D")}


def _line_style(router: str, bases: list) -> dict:
    if router in _REFERENCE_STYLE:
        colour, marker = _REFERENCE_STYLE[router]
        return {"color": colour, "marker": marker, "linestyle": "--", "linewidth": 1}
    base, kind = split_name(router)
    return {"color": f"C{bases.index(base) % 10}", "marker": "o", "markersize": 4,
            "linestyle": _SUFFIX_STYLE[kind]}


def write_report(report: dict, out_dir) -> dict:
    """Write ``report.json``, ``report.md`` and ``pools_<group>.png`` into ``out_dir``
    (``routerrec.evaluation.report.write_report``: strict JSON, atomic files)."""
    return write_files(out_dir, report, markdown_report(report), report_figures(report))
