"""Add a new LLM when you only have a dozen models: defaults only, no flags.

The embedded sample (routerrec's own generator, 20 models, offline) is cut to 12 models; one
more is treated as new. ``routerrec.fit`` picks the method by data size and score kind,
``select_probes`` the strategy by the model count (docs/methods.md and docs/coldstart.md,
"Defaults"), and ``fold_in_model`` gives per-benchmark estimates whose 95% intervals widen by
what the factors cannot capture with so few models (``Model.discrepancy``).

Run from the repository root:  .venv/bin/python examples/new_llm_few_models.py
"""
import polars as pl

import routerrec
from routerrec.cli.options import format_table
from routerrec.coldstart.probes import default_strategy
from routerrec.data.sample import load_sample

records = load_sample()
answered = records.table.group_by("model").len().sort("len", descending=True)["model"]
new = answered[0]  # the model with the most answers: its truth is known best
known = [m for m in records.models if m != new][:12]
model = routerrec.fit(records.filter(models=known))  # method "auto"
print(f"fitted {model.method} (rank {model.rank}) on {len(known)} models; probe strategy: "
      f"{default_strategy(model)}")

mine = records.table.filter(pl.col("model") == new)
answers = dict(zip(mine["prompt"], mine["score"]))
probes = [p for p in routerrec.select_probes(model, 60) if p in answers][:40]
result = routerrec.fold_in_model(model, new, {p: answers[p] for p in probes})

bench = records.prompt_benchmark  # {prompt id: benchmark}
mine = mine.with_columns(benchmark=pl.col("prompt").replace_strict(bench))
truth = dict(mine.group_by("benchmark").agg(pl.col("score").mean()).iter_rows())
truth["overall"] = mine["score"].mean()
rows = [{"benchmark": b, "estimate": v["estimate"], "low": v["low"], "high": v["high"],
         "probes": v["probes"], "truth": truth[b]} for b, v in result.benchmarks.items()
        if b in truth]  # truth: the mean of the answers it has (the sample is 75% dense)
print(f"\n{new}: folded in from {result.n_probes} answers in {1000 * result.seconds:.1f} ms")
print(format_table(rows, ["benchmark", "estimate", "low", "high", "probes", "truth"]))
inside = sum(r["low"] <= r["truth"] <= r["high"] for r in rows)
print(f"the truth is inside the 95% interval for {inside} of {len(rows)} rows")
