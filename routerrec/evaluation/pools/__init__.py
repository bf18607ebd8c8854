"""RouterEval-style candidate-pool sweep: how routing quality scales from 3 to 1,000 models.

For every benchmark, prompts are split train / validation / test (seeded, stratified);
candidate pools of ``m`` models are drawn the way RouterEval defines its groups, but chosen
on the training prompts only (``select_on="all"`` reproduces RouterEval's selection, which
peeks at the test prompts); every learned router of the registry is fitted **once** per
split and benchmark on the training prompts of all models, and each pool sub-sets the
columns of its predictions; ``NAME+val`` routers use the validation prompts to fall back to
the best single model on pools where routing does not help, ``NAME+valpool`` make that
decision once per (benchmark, pool size, seed) on the validation prompts of all its pools,
``NAME+cv`` per pool on out-of-fold predictions for the training prompts plus validation.
Metrics are RouterEval's: mu, V_B, V_R and E_p, plus the reference routers (oracle, random,
best single, r_o(p)) of ``routerrec.routing.reference`` as exact expectations, and
``cluster-best`` (each k-means cluster's best model on the training prompts) fitted once per
split and benchmark like a learned router. See
docs/pools.md for the exact definitions and their caveats.

One module per concept: ``selection`` (splits, pools), ``metrics``, ``validation`` (the
validated routers), ``sweep`` (``evaluate_pools``), ``summary`` (intervals over seeds,
``combine_reports``) and ``report`` (Markdown, plots, ``write_report``).
"""
from .metrics import (EXACT_REFERENCES, FITTED_REFERENCES, REFERENCE_ACCURACY, REFERENCE_ROUTERS,
                      RO_P, TEMPERATURE, pool_metrics,
                      reference_accuracy, reference_metrics, reference_routers, router_metrics)
from .report import markdown_report, report_figures, write_report
from .selection import GROUPS, POOL_SIZES, select_pool, split_three
from .summary import METRICS, combine_reports, summarise
from .sweep import DEFAULT_ROUTERS, evaluate_pools, last_paragraph, question_view
from .validation import (CROSS_VALIDATED, CV_FOLDS, VAL_WEIGHTS, VALIDATED, VALIDATED_POOLED,
                         validated_weight)

__all__ = ["GROUPS", "POOL_SIZES", "REFERENCE_ACCURACY", "REFERENCE_ROUTERS", "EXACT_REFERENCES",
           "FITTED_REFERENCES", "RO_P",
           "TEMPERATURE", "METRICS", "DEFAULT_ROUTERS", "VALIDATED", "VALIDATED_POOLED",
           "CROSS_VALIDATED", "CV_FOLDS", "VAL_WEIGHTS", "combine_reports", "evaluate_pools",
           "last_paragraph", "question_view", "validated_weight", "markdown_report",
           "report_figures", "pool_metrics", "router_metrics", "reference_accuracy",
           "reference_metrics", "reference_routers", "select_pool", "split_three", "summarise",
           "write_report"]
