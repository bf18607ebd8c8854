"""``routerrec evaluate online``: replay records as a request stream, online learning against
the router fitted once, the offline probe run and the oracle (registered from ``evaluate``)."""
from __future__ import annotations

from pathlib import Path

import click

from .options import (SEED, LazyChoice, Real, check_out_parent, emit, fail, format_table,
                      load_cli_records, policy_names, records_options, reported_as, split_list)
from ..util.files import atomic_write

__all__ = ["online"]


@click.command("online")
@records_options
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Stream order, held-out models, revealed feedback and exploration.")
@click.option("--new-models", type=Real(0.01, 0.9), default=0.2, show_default=True,
              help="Share of the models held out that join mid-stream.")
@click.option("--arrivals", default="0.25,0.5", show_default=True,
              help="Comma-separated stream fractions at which the new models join (round-robin).")
@click.option("--feedback-share", type=Real(0, 1), default=1.0, show_default=True,
              help="Share of requests whose score is fed back (the rest never are).")
@click.option("--feedback-delay", type=click.IntRange(min=0), default=0, show_default=True,
              help="Requests that pass before a request's feedback arrives.")
@click.option("--train-share", type=Real(0.05, 0.9), default=0.3, show_default=True,
              help="Share of the prompts (old models only) the initial router is fitted on.")
@click.option("--policy", type=LazyChoice(policy_names), default="directed",
              show_default=True, help="The online router's exploration policy "
                                      "(routerrec.online.explore.POLICIES).")
@click.option("--max-explore-share", type=Real(0, 1), default=None,
              help="The online router's bound on the share of requests it explores "
                   "(default: OnlineRouter's).")
@click.option("--max-regret", type=Real(0, None), default=None,
              help="The online router's bound on an exploring pick's expected score loss "
                   "(default: OnlineRouter's).")
@click.option("--probes", type=click.IntRange(min=1), default=50, show_default=True,
              help="Offline probes per new model of the probe baseline.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="PNG file for the regret and new-model share plots.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the full report).")
def online(seed, new_models, arrivals, feedback_share, feedback_delay, train_share, policy,
           max_explore_share, max_regret, probes, plot, as_json, **kw):
    """Replay records as a stream of requests and measure online learning.

    Prompts with text in a seeded order: the first --train-share fit the initial mf router on
    the models present from the start; the rest arrive one by one, scored with the recorded
    score of the chosen model. Held-out models join at --arrivals. Reported: cumulative
    regret against the oracle of online, fixed (never updated), probe-50 (new models folded
    in from 50 offline probes) and probe-matched (as many probes as online explored), and per
    new model its traffic, convergence and estimate error (docs/online.md).

    \b
    Example:
      routerrec evaluate online --seed 1 --feedback-share 0.5 --feedback-delay 20 \\
          --plot online.png
      routerrec evaluate online --data records.parquet --text-col text --policy greedy --json
    """
    from ..evaluation.online import markdown_report, replay, report_figure

    try:
        fractions = [float(a) for a in split_list(arrivals, "--arrivals")]
    except ValueError:
        fail(f"--arrivals expects comma-separated numbers between 0 and 1, got {arrivals!r}")
    if plot is not None:
        check_out_parent(plot, "--plot")
    records = load_cli_records(kw)
    with reported_as("evaluate online"):
        report = replay(records, seed=seed, share_new_models=new_models, arrivals=fractions,
                        feedback_share=feedback_share, feedback_delay=feedback_delay,
                        train_share=train_share, policy=policy, probes=probes,
                        online_params={k: v for k, v in (("max_explore_share", max_explore_share),
                                                         ("max_regret", max_regret))
                                       if v is not None})
    if plot is not None:
        from ..evaluation.report import pyplot

        fig = report_figure(report)
        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(plot, lambda p: fig.savefig(p, dpi="figure", format="png"))
        pyplot().close(fig)
        report["plot"] = str(plot)
    rows = [{"router": r, "regret": v["regret"], "mean_score": v["mean_score"]}
            for r, v in report["routers"].items()]
    emit(report, as_json, format_table(rows, ["router", "regret", "mean_score"]) + "\n\n"
         + markdown_report(report) + (f"\nwrote {plot}" if plot else ""))
