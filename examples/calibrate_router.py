"""Calibrate the willingness to pay on your own traffic: which wtp keeps the mean predicted
cost per request under a budget, or sends at most a share of calls to the biggest model?

Runs offline on the embedded sample: the router is fitted on 80% of its prompts, the other
20% play the part of your traffic. The command-line equivalent:

    routerrec fit --router linear --out out/linear
    routerrec calibrate --router out/linear --prompts traffic.jsonl --target-cost 0.001 \\
        --out calibration.json
    routerrec route --router out/linear --prompts traffic.jsonl --calibration calibration.json

Run from the repository root:  .venv/bin/python examples/calibrate_router.py
"""
import routerrec
from routerrec.routing.calibrate import calibrate_wtp
from routerrec.routing.registry import make_router

train, traffic = routerrec.load_sample().split_prompts(0.2, seed=0)
router = make_router("linear").fit(train)
texts = traffic.text_of(traffic.prompts)
print(f"router fitted on {train.n_prompts} prompts; calibrating on {len(texts)} others")

for budget in (0.0005, 0.001, 0.002):  # USD per request
    cal = calibrate_wtp(router, texts, target_cost=budget)
    top = ", ".join(f"{m} {s:.0%}" for m, s in list(cal.shares.items())[:3])
    print(f"budget {budget:.4f}: wtp {cal.wtp:.4g} spends {cal.achieved:.5f} a request "
          f"(mean predicted score {cal.mean_score:.3f}); most calls: {top}")

cal = calibrate_wtp(router, texts, target_share=("acme-405b", 0.2))
print(f"at most 20% of calls to acme-405b: wtp {cal.wtp:.4g} sends it {cal.achieved:.1%} "
      f"(the next step up, wtp {cal.step_wtp:.4g}, would send {cal.step_achieved:.1%})")

# the calibrated wtp is an ordinary wtp: route with it
picks = router.route(texts, wtp=cal.wtp)
print(f"routing the traffic with it: {picks.count('acme-405b') / len(picks):.1%} to acme-405b")

try:
    calibrate_wtp(router, texts, target_cost=1.0)
except ValueError as exc:
    print(f"an unreachable target is refused: {exc}")
