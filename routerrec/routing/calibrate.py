"""Calibrate the willingness to pay (wtp) on your own prompts: find the wtp at which a fitted
router meets a mean predicted cost per request, or sends a given share of calls to one model
(RouteLLM's threshold calibration, lm-sys/RouteLLM#36, for routerrec's λ·score − cost rule).

Every pick goes through the router's own ``Router.choose`` (the one pick rule). As the wtp
grows, each prompt's pick moves to a model of higher predicted score and cost, so the mean
predicted cost is a non-decreasing step function of the wtp: a bisection on a log scale finds
the **largest** wtp whose cost does not exceed the target, and the step just above it. The
share of a model the router picks at maximum quality (the "strong" model) rises the same way;
a model in the middle of the price range can gain and then lose calls as the wtp grows, and
the search then returns a wtp where its share crosses the target.

A target outside what the router can reach on these prompts (below the all-cheapest routing,
at or above the max-quality routing) raises a ValueError giving the reachable range.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..util.files import atomic_write
from ..util.validate import real, texts as check_texts

__all__ = ["Calibration", "calibrate_wtp", "router_fingerprint", "write_calibration",
           "read_calibration", "FORMAT"]

FORMAT = "routerrec-calibration"
_BATCH = 4096
_RTOL = 1e-9  # the wtp is found to this relative precision


@dataclass
class Calibration:
    """The calibrated ``wtp`` and what it does on the prompts it was calibrated on.

    ``achieved``: the target's quantity at ``wtp`` (mean predicted cost per request, or the
    model's share of calls); ``step_wtp`` / ``step_achieved``: the smallest wtp found above
    it, where the quantity passes the target (the routing is a step function of the wtp);
    ``reachable``: the quantity at wtp 0 (every prompt to its cheapest predicted model) and at
    maximum quality (no wtp); ``shares``: the share of calls of every candidate at ``wtp``.
    """

    wtp: float
    target: dict
    achieved: float
    step_wtp: float
    step_achieved: float
    reachable: tuple[float, float]
    mean_cost: float
    mean_score: float
    shares: dict
    prompts: int
    models: list | None

    def to_dict(self) -> dict:
        return {**asdict(self), "reachable": list(self.reachable)}


def calibrate_wtp(router, prompts, *, target_cost: float | None = None,
                  target_share: tuple[str, float] | dict | None = None,
                  models: Sequence[str] | None = None) -> Calibration:
    """The wtp at which ``router`` meets ``target_cost`` (mean predicted cost per request, USD)
    or ``target_share`` (``(model, share)`` or ``{model: share}``: at most that share of calls)
    on ``prompts`` (texts, prompt ids for a router keyed by id, or ``Records``), over the
    candidate pool ``models`` (default: all). See the module doc for the search."""
    if (target_cost is None) == (target_share is None):
        raise ValueError("give target_cost or target_share (one of them)")
    names = router.candidates(models)
    scores, costs = _predictions(router, prompts, models)
    rows = np.arange(len(scores))
    if target_cost is not None:
        target = real("target_cost", target_cost, low=0)
        spec, what = {"cost": target}, "mean predicted cost per request"

        def measure(picks):
            return float(costs[rows, picks].mean())
    else:
        model, target = _share_target(target_share, names)
        column = names.index(model)
        spec, what = {"share": {"model": model, "share": target}}, f"share of calls to {model}"

        def measure(picks):
            return float(np.mean(picks == column))

    def at(wtp):
        return measure(router.choose(scores, costs, wtp=wtp))

    low, high = at(0.0), at(None)
    if low == high:
        raise ValueError(f"the {what} is {low:.6g} at every wtp on these {len(scores)} prompts: "
                         f"this router's picks do not depend on the wtp (a reference router, "
                         "records without costs, or one candidate), so there is nothing to "
                         "calibrate")
    if not low <= target < high:
        raise ValueError(f"target {what} {target:.6g} is out of reach on these {len(scores)} "
                         f"prompts: the router reaches {low:.6g} (wtp 0: every prompt to its "
                         f"cheapest predicted model) up to below {high:.6g} (maximum quality); "
                         f"a target of {high:.6g} or more needs no wtp: route without --wtp")
    wtp, step = _largest_wtp_within(at, target)
    picks = router.choose(scores, costs, wtp=wtp)
    counts = np.bincount(picks, minlength=len(names)) / len(picks)
    return Calibration(
        wtp=wtp, target=spec, achieved=measure(picks), step_wtp=step, step_achieved=at(step),
        reachable=(low, high), mean_cost=float(costs[rows, picks].mean()),
        mean_score=float(scores[rows, picks].mean()),
        shares={names[j]: float(counts[j]) for j in np.argsort(-counts, kind="stable")},
        prompts=len(scores), models=None if models is None else list(names))


def _share_target(target_share, names) -> tuple[str, float]:
    items = list(target_share.items()) if isinstance(target_share, dict) else [target_share]
    if len(items) != 1 or not isinstance(items[0], (tuple, list)) or len(items[0]) != 2:
        raise ValueError(f"target_share must be (model, share) or {{model: share}} for one "
                         f"model, got {target_share!r}")
    model, share = items[0]
    if model not in names:
        raise KeyError(f"target_share model {model!r} is not a candidate; the candidates are "
                       f"{', '.join(names)}")
    return model, real("target_share", share, low=0, high=1)


def _predictions(router, prompts, models) -> tuple[np.ndarray, np.ndarray]:
    """Predicted scores and costs of every prompt x candidate, in batches (float64)."""
    if hasattr(prompts, "matrix"):  # Records
        return (router.predict_records(prompts, models=models).astype(np.float64),
                router.predict_cost_records(prompts, models=models).astype(np.float64))
    keys = check_texts("prompts", prompts)
    if not keys:
        raise ValueError("prompts must hold at least one prompt")
    parts = [(router.predict(keys[s:s + _BATCH], models=models),
              router.predict_cost(keys[s:s + _BATCH], models=models))
             for s in range(0, len(keys), _BATCH)]
    return (np.concatenate([p[0] for p in parts]).astype(np.float64),
            np.concatenate([p[1] for p in parts]).astype(np.float64))


def _largest_wtp_within(at, target) -> tuple[float, float]:
    """``(lo, hi)``: ``at(lo) <= target < at(hi)`` with ``hi - lo <= 1e-9 * hi``, given
    ``at(0) <= target`` and ``at(wtp) > target`` for large enough wtp."""
    lo, hi = 0.0, 1.0
    if at(hi) <= target:
        for _ in range(520):  # 4**520 > 1e308: the routing is max quality long before
            lo, hi = hi, hi * 4
            if at(hi) > target:
                break
    else:
        while hi > 1e-300 and at(hi / 4) > target:
            hi /= 4
        lo = hi / 4 if hi > 1e-300 else 0.0
    while hi - lo > _RTOL * hi:
        mid = float(np.sqrt(lo * hi)) if lo > 0 else hi / 2
        if at(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo, hi


def router_fingerprint(directory) -> str:
    """SHA-256 of every file of a saved router directory (names and bytes), so a calibration
    is applied only to the router it was made for."""
    d = Path(directory)
    h = hashlib.sha256()
    for f in sorted(p for p in d.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(d)).encode() + b"\x00")
        h.update(f.read_bytes())
    return h.hexdigest()


def write_calibration(path, calibration: Calibration, router_dir) -> None:
    """A small JSON file ``routerrec route --calibration`` reads in place of ``--wtp``."""
    doc = {"format": FORMAT, "version": 1, **calibration.to_dict(),
           "router": {"path": str(router_dir), "fingerprint": router_fingerprint(router_dir)}}
    text = json.dumps(doc, indent=2, allow_nan=False)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text + "\n"))


def read_calibration(path, router_dir) -> tuple[float, list | None]:
    """``(wtp, candidate pool or None)`` from a calibration file, refused (ValueError naming
    the file and field) when it is not one or was made for another router than
    ``router_dir``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a calibration file (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a calibration file (no \"format\": \"{FORMAT}\"); "
                         "write one with routerrec calibrate --out")
    wtp = real(f"{path}: field 'wtp'", doc.get("wtp"), low=0)
    models = doc.get("models")
    if models is not None:
        models = check_texts(f"{path}: field 'models'", models)
    router = doc["router"] if isinstance(doc.get("router"), dict) else {}
    if router.get("fingerprint") != router_fingerprint(router_dir):
        raise ValueError(f"{path} was calibrated for another router ({router.get('path')}), not "
                         f"{router_dir} as it is now: run routerrec calibrate --router "
                         f"{router_dir} again")
    return wtp, models
