"""Add a new LLM for real with lm-evaluation-harness: the whole round trip on files.

1. Per-doc results of known LLMs, as ``lm_eval --log_samples`` writes them
   (OUT/<model>/samples_<task>_<date>.jsonl), are read and fitted.
2. 40 probes are chosen and written as lm-eval's ``--samples`` file ``{task: [doc indices]}``,
   with the ``lm_eval`` command that runs exactly those docs.
3. Instead of running that command (no GPU, no downloads here), the held-out LLM's real
   answers to exactly those docs are written in lm-eval's layout, as the run would.
4. They are read back (``lm_eval_scores``, the lm-eval reader's parsing) and folded in:
   estimated accuracy per task, with 95% intervals, next to the truth.

Run from the repository root:  .venv/bin/python examples/new_llm_lm_eval.py
Uses ../shared/data/mmlu-pro (1,400 questions x 29 LLMs, a task per category) when it is
there, else the embedded synthetic sample; everything is written to a temporary folder.
The CLI does the same: ``routerrec probes --format lm-eval`` and ``routerrec add-model --results``.
"""
import json
import tempfile
from pathlib import Path

import polars as pl

import routerrec
from routerrec.cli.options import format_table
from routerrec.coldstart.foldin import fold_in_model
from routerrec.coldstart.probes import select_probes
from routerrec.data.readers.lm_eval import (lm_eval_command, lm_eval_samples, lm_eval_scores,
                                            read_samples, write_samples)
from routerrec.data.sample import load_sample
from routerrec.data.shared import load_mmlu_pro, shared_data_dir

DATE = "2025-01-31T12-00-00.000000"

if shared_data_dir("mmlu-pro") is not None:
    source = load_mmlu_pro()
    source = source.filter(prompts=source.table["prompt"].unique().sort().sample(1400, seed=0))
else:
    source = load_sample()
table = (source.table.join(source.texts, on="prompt", how="left")
         .with_columns(pl.col("benchmark").str.replace_all(r"\W+", "_").alias("task"),
                       pl.col("model").str.replace_all("/", "__").alias("folder")))
# lm-eval numbers the docs of each task from 0
docs = table.select("task", "prompt").unique().sort("task", "prompt").with_columns(
    pl.int_range(pl.len()).over("task").alias("doc_id"))
table = table.join(docs, on=["task", "prompt"])
# the "new" LLM: the one with the most answers (every doc's truth known on mmlu-pro), held out
new_llm = table.group_by("folder").len().sort(["len", "folder"], descending=[True, False])["folder"][0]


def write_lm_eval_output(out: Path, cells: pl.DataFrame) -> None:
    """The per-doc files lm_eval --log_samples writes, for these (model, task, doc) cells."""
    for (folder, task), group in cells.group_by("folder", "task"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        with open(out / folder / f"samples_{task}_{DATE}.jsonl", "w") as fh:
            for row in group.sort("doc_id").iter_rows(named=True):
                fh.write(json.dumps({"doc_id": row["doc_id"], "doc": {"question": row["text"]},
                                     "filter": "none", "metrics": ["acc"], "acc": row["score"]}) + "\n")


with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    write_lm_eval_output(tmp / "known", table.filter(pl.col("folder") != new_llm))
    records = routerrec.load_records(tmp / "known")
    print(f"read {records.n_records} per-doc results: {records.n_models} LLMs x "
          f"{records.n_prompts} docs in {len(records.benchmarks)} tasks")
    model = routerrec.fit(records, progress=True)

    probes = select_probes(model, 40)
    task_of = dict(zip(model.prompts, model.prompt_benchmark))
    samples_file = write_samples(tmp / "probes.json", lm_eval_samples(probes, [task_of[p] for p in probes]))
    samples = read_samples(samples_file)
    print(f"\n40 probes over {len(samples)} tasks; run them with lm-evaluation-harness:\n  "
          + lm_eval_command(str(samples_file), "lm-eval-out", list(samples)))

    # what that run writes: the new LLM's answers to exactly those docs
    chosen = pl.DataFrame([(t, d) for t, ds in samples.items() for d in ds], schema=["task", "doc_id"],
                          orient="row")
    write_lm_eval_output(tmp / "lm-eval-out", table.filter(pl.col("folder") == new_llm)
                         .join(chosen, on=["task", "doc_id"]))
    answers = lm_eval_scores(tmp / "lm-eval-out", samples=samples)

result = fold_in_model(model, new_llm, answers)
truth = (table.filter(pl.col("folder") == new_llm).group_by("task").agg(pl.col("score").mean())
         .pipe(lambda t: dict(zip(t["task"], t["score"]))))
truth["overall"] = table.filter(pl.col("folder") == new_llm)["score"].mean()
rows = [{"task": task, "estimate": v["estimate"], "low": v["low"], "high": v["high"],
         "probes": v["probes"], "truth": truth.get(task, float("nan"))}
        for task, v in result.benchmarks.items()]
print(f"\n{new_llm}: folded in from {result.n_probes} lm-eval answers in {1000 * result.seconds:.0f} ms")
print(format_table(rows, ["task", "estimate", "low", "high", "probes", "truth"]))
inside = sum(r["low"] <= r["truth"] <= r["high"] for r in rows)
print(f"the truth is inside the 95% interval for {inside} of {len(rows)} rows")
