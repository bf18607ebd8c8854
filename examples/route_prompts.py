"""Route new prompts: fit the default router (``auto``), see what it decided per task and why,
compare it with the reference routers on held-out prompts, and show how the willingness to
pay and a budget change the choice.

Run from the repository root:  .venv/bin/python examples/route_prompts.py
Uses ../shared/data/routerbench (real USD costs) when present, else the embedded sample.
"""
import numpy as np

import routerrec
from routerrec.data.shared import load_routerbench, shared_data_dir
from routerrec.routing.base import true_matrices
from routerrec.routing.registry import make_router

if shared_data_dir("routerbench") is not None:
    train, test = load_routerbench(split="train"), load_routerbench(split="test")
    print("RouterBench records (real USD costs)")
else:
    print("../shared/data/routerbench is not here; using the embedded synthetic sample")
    train, test = routerrec.load_sample().split_prompts(0.2, seed=0)

truth, cost = true_matrices(test)
complete = ~np.isnan(truth).any(axis=1)
print(f"{train.n_prompts} training prompts, {int(complete.sum())} complete test prompts")


def judge(picks):
    idx = np.array([test.models.index(p) for p in picks])
    rows = np.arange(len(idx))[complete]
    return truth[rows, idx[complete]].mean(), cost[rows, idx[complete]].sum()


router = make_router().fit(train)  # no name: auto
summary = router.summary()
print(f"auto: groups by {summary['grouping']['by']} (classifier accuracy "
      f"{summary['grouping']['classifier_accuracy']}), routes {summary['routed_groups']} of "
      f"{len(summary['groups'])} groups; cost model {router.cost_model_.kind_}")
for group in summary["groups"]:
    print("  " + group["reason"])
for name in ("oracle", "task-best", "best-single", "random"):
    q, c = judge(make_router(name).fit(train).route_records(test))
    print(f"{name:>12}: mean score {q:.3f}, total cost {c:.4f}")
for wtp in (1e-3, 1e-2, 3e-2, 1e-1, 1.0):  # USD per unit of score; costs are ~1e-4..1e-2 a call
    q, c = judge(router.route_records(test, wtp=wtp))
    print(f"  auto wtp={wtp:>6g}: mean score {q:.3f}, total cost {c:.4f}")

first = {}  # one prompt per benchmark
for p, b in test.prompt_benchmark.items():
    first.setdefault(b, p)
texts = test.text_of(list(first.values()))
print("\nbudget per prompt = the median model's mean cost:")
budget = float(np.median(router.cost_model_.intercept_))
for text, model, why in zip(texts, router.route(texts, max_cost=budget), router.explain(texts)):
    print(f"  {model:<28} <- ...{text[-50:]!r}\n      ({why})")
