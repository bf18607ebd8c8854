"""RouterBench-style evaluation: cost-quality points, non-decreasing convex hulls and AIQ.

For each eval (benchmark) of the test records and each router, every willingness to pay λ
of the grid gives one point (x = total true cost of the chosen models over the eval's test
prompts, y = their mean true score). Next to them: every single model's point, the oracle's
point and the **zero router**, the non-decreasing convex hull of the single models (any mix
of two models is reachable by randomising between them), which a learned router must beat,
and the curves of the per-group baselines ``task-best`` and ``cluster-best`` (each group's
training means traded against predicted cost at every λ, like a router's).
The oracle is RouterBench's point (best true score, cheapest on ties) *and* a curve: per λ,
argmax λ·s − c on the true scores and costs, so its hull bounds every router's hull from
above and "share of the zero → oracle gap closed" compares like with like.

AIQ, the area under a router's non-decreasing convex hull, is computed **jointly** over the
routers compared (zero router and oracle included), in two definitions:

* ``code`` (RouterBench's released code, the one we report): each hull is extended flat to
  the largest cost among all hulls, integrated from its own cheapest point, ÷ that cost;
* ``paper``: the same integral ÷ (c_max − c_min), c_min the smallest cost among all hulls.

Intervals: percentile bootstrap over the eval's test prompts (same resamples for every
router, so differences are paired). Test prompts missing a score or cost for any model are
dropped from AIQ (counted in the report), so every router is judged on the same prompts.
The gap closed is also given **pooled** over all test prompts (one curve over all evals),
beside the per-eval shares and their unweighted mean.

**Max quality** (with or without costs; most research data has no prices): each router's
pick with no willingness to pay (``router.choose(..., wtp=None)``: best predicted score,
cheaper on ties) among the models with a true score on the prompt, beside ``best-single``
(the model best on the training prompts: the ``best-single`` reference router),
``task-best`` (the ``task-best`` reference router: per task, the model best on that task's
training prompts; a model never seen on the task ranks by its overall training mean, a task
absent from training falls back to best-single), and reported beside them ``task-best
(text)`` (the same router, the task from its text classifier), ``cluster-best``, ``random``
(in expectation) and ``oracle``. Per eval and pooled: the mean true score, each router's
difference to the stronger of best-single and task-best with a paired bootstrap interval
(the stronger one taken in each resample), and the share of that baseline → oracle gap
closed. AIQ needs costs: without them the report holds the max-quality tables only.

Next to AIQ: RouteLLM's APGR and CPT for a strong / weak pair, RouterArena's score and the
Pareto distance to the oracle curve (``field``, definitions in docs/routerbench.md).

One module per concept: ``curves`` (λ grid, hulls, joint AIQ, one eval's curves),
``field`` (the field's other metrics as pure functions), ``tradeoffs`` (RouterArena and
Pareto distance of one eval), ``pair`` (the strong / weak curves), ``quality`` (the
max-quality tables and their baselines), ``evaluate`` (``evaluate_routerbench``, ``ood``)
and ``report`` (Markdown, plots, ``write_report``).
"""
from .curves import ROUTERBENCH_LAMBDAS, joint_aiq, lambda_grid, nondecreasing_hull
from .evaluate import DEFAULT_ROUTERS, evaluate_routerbench
from .field import apgr, arena_score, cpt, pair_curve, pareto_distance
from .quality import BASELINES
from .report import markdown_report, report_figures, write_report

__all__ = ["ROUTERBENCH_LAMBDAS", "DEFAULT_ROUTERS", "BASELINES", "lambda_grid",
           "nondecreasing_hull", "joint_aiq", "evaluate_routerbench", "markdown_report",
           "report_figures", "write_report", "apgr", "cpt", "pair_curve", "arena_score",
           "pareto_distance"]
