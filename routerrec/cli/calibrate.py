"""``routerrec calibrate``: the willingness to pay that meets a cost per request or a share of
calls on your own prompts (``routing.calibrate``); ``route --calibration`` applies it."""
from __future__ import annotations

from pathlib import Path

import click

from .options import Real, check_out_parent, emit, fail, format_table, reported_as, split_list
from .route import load_cli_router, read_prompts, routing_keys

__all__ = ["calibrate"]


def _share(text: str | None) -> tuple[str, float] | None:
    """``MODEL=SHARE`` (a fraction 0..1 or a percentage like 30%) as ``(model, share)``."""
    if text is None:
        return None
    model, sep, value = text.rpartition("=")
    try:
        share = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        share = None
    if not sep or not model or share is None:
        fail(f"--target-share expects MODEL=SHARE (e.g. acme-405b=0.3 or acme-405b=30%), "
             f"got {text!r}")
    return model, share


@click.command()
@click.option("--router", "router_dir", type=click.Path(exists=True, file_okay=False),
              required=True, help="Router directory written by `routerrec fit --router`.")
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False),
              required=True, help="Your traffic: .jsonl ({\"id\":..., \"text\":...} a line) or "
                                  ".txt (one prompt a line).")
@click.option("--target-cost", type=Real(min=0), default=None,
              help="Mean predicted cost per request (USD) to spend at most.")
@click.option("--target-share", default=None,
              help="MODEL=SHARE: send at most this share of calls to MODEL (0.3 or 30%).")
@click.option("--models", default=None, help="Comma-separated candidate pool (default: all).")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Vectors of these prompts, for a router fitted with --embeddings.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the calibration (JSON) here, for `routerrec route --calibration`.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def calibrate(router_dir, prompts_file, target_cost, target_share, models, embeddings, out,
              as_json):
    """Find the willingness to pay (wtp) that meets a target on your prompts.

    Routes your prompts with the router's own pick rule at many wtp values (a bisection:
    a higher wtp buys higher predicted scores at higher predicted cost) and reports the
    largest wtp whose mean predicted cost per request, or share of calls to MODEL, does not
    exceed the target, with every model's share of calls there. A target the router cannot
    reach is refused with the reachable range.

    \b
    Example:
      routerrec calibrate --router out/mf --prompts traffic.jsonl --target-cost 0.001 \\
          --out calibration.json
      routerrec calibrate --router out/mf --prompts traffic.jsonl --target-share acme-405b=30%
      routerrec route --router out/mf --prompts traffic.jsonl --calibration calibration.json
    """
    from ..routing.calibrate import calibrate_wtp, write_calibration

    if (target_cost is None) == (target_share is None):
        fail("give --target-cost C or --target-share MODEL=SHARE (one of them)")
    share = _share(target_share)
    if out:
        check_out_parent(out)
    pool = split_list(models, "--models") or None
    ids, texts = read_prompts(Path(prompts_file))
    router = load_cli_router(router_dir, embeddings=embeddings)
    keys = routing_keys(router, ids, texts, from_file=True)
    option = "--target-cost" if share is None else "--target-share"
    with reported_as(option if pool is None else f"{option} with --models"):
        result = calibrate_wtp(router, keys, target_cost=target_cost, target_share=share,
                               models=pool)
    if out:
        write_calibration(out, result, router_dir)
    payload = {**result.to_dict(), "router": str(router_dir), "out": out}
    what = ("mean predicted cost per request" if share is None
            else f"share of calls to {share[0]}")
    target = target_cost if share is None else share[1]
    low, high = result.reachable
    text = (f"wtp {result.wtp:.6g}: {what} {result.achieved:.6g} (target {target:.6g}; "
            f"reachable {low:.6g} to {high:.6g}) on {result.prompts:,} prompts\n"
            f"the next step up, wtp {result.step_wtp:.6g}, gives {result.step_achieved:.6g}\n"
            f"mean predicted cost {result.mean_cost:.6g}, mean predicted score "
            f"{result.mean_score:.4f}\n"
            + format_table([{"model": m, "share": s} for m, s in result.shares.items() if s > 0],
                           ["model", "share"])
            + (f"\nsaved to {out} (routerrec route --calibration {out})" if out else ""))
    emit(payload, as_json, text)
