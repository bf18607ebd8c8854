"""Planted record sets with a known right answer, shared by the tests: low-rank scores for
the models, topic-specialist models (the text decides which is right) for the routers."""
from __future__ import annotations

import numpy as np
import polars as pl

from routerrec import records_from_frame


def planted_frame(n_prompts=600, n_models=40, rank=4, density=0.6, noise=0.1, binary=False,
                  model_shared=0.0, seed=0) -> tuple[pl.DataFrame, np.ndarray]:
    """Observed cells of ``mu + b_p + b_m + P Q^T (+ noise)`` and the noiseless truth.

    With ``binary=True`` the cells are Bernoulli draws of the logistic of that predictor
    and the truth is the probability. Model vectors are a shared vector of
    scale ``model_shared`` (real LLMs share a "general ability" axis) plus independent
    N(0, 0.5^2 - model_shared^2) parts; 0 is the unstructured worst case.
    """
    rng = np.random.default_rng(seed)
    P = rng.normal(0, 0.5, (n_prompts, rank))
    spread = np.sqrt(0.25 - model_shared ** 2)
    Q = rng.normal(0, model_shared, rank) + rng.normal(0, spread, (n_models, rank))
    bp = rng.normal(0, 0.3, n_prompts)
    bm = rng.normal(0, 0.3, n_models)
    linear = bp[:, None] + bm[None, :] + P @ Q.T
    if binary:
        truth = 1 / (1 + np.exp(-2.5 * linear))
        values = (rng.random(truth.shape) < truth).astype(np.float64)
    else:
        truth = 0.5 + linear
        values = truth + rng.normal(0, noise, truth.shape)
    rows, cols = np.nonzero(rng.random(truth.shape) < density)
    frame = pl.DataFrame({
        "prompt": [f"p{r:05d}" for r in rows],
        "model": [f"m{c:03d}" for c in cols],
        "score": values[rows, cols],
    })
    return frame, truth


def planted_records(**kw):
    frame, truth = planted_frame(**kw)
    return records_from_frame(frame), truth


# Topic data: three topics named by their words, a specialist model per topic and a cheap one.
TOPICS = {
    "math": "integral derivative equation algebra matrix prime number theorem proof sum".split(),
    "code": "python function compile loop array recursion class pointer bug test".split(),
    "trivia": "capital river painter novel king war century island museum song".split(),
}
# model -> probability of being right per topic; "cheap" is mediocre everywhere but cheap
SKILL = {"mathy": (0.95, 0.2, 0.3), "coder": (0.2, 0.95, 0.3),
         "quizzer": (0.3, 0.3, 0.9), "cheap": (0.5, 0.5, 0.5)}
PRICE = {"mathy": 2e-6, "coder": 2e-6, "quizzer": 2e-6, "cheap": 1e-7}  # USD per character


def topic_text(rng, topic):
    words = rng.choice(TOPICS[topic], size=rng.integers(6, 30))
    return " ".join(["please"] + list(words))


def topic_records(n=240, seed=0, density=0.9, prefix="p"):
    """Binary records whose right model depends on the prompt's topic; cost ∝ text length."""
    rng = np.random.default_rng(seed)
    rows = []
    topics = list(TOPICS)
    for i in range(n):
        t = i % 3
        text = topic_text(rng, topics[t])
        for m, skill in SKILL.items():
            if rng.random() < density:
                rows.append({"prompt": f"{prefix}{i:04d}", "model": m,
                             "score": float(rng.random() < skill[t]),
                             "cost": PRICE[m] * len(text), "benchmark": topics[t], "text": text})
    return records_from_frame(pl.DataFrame(rows))


def three_benchmark_records():
    """90 models answering 300 prompts of three benchmarks (a, b, c), all cells observed: the
    cold-start tests' data (enough models to learn a population prior)."""
    frame, _ = planted_frame(n_prompts=300, n_models=90, rank=3, density=1.0, binary=True,
                             model_shared=0.4, seed=7)
    bench = (pl.when(pl.col("prompt") < "p00080").then(pl.lit("a"))
             .when(pl.col("prompt") < "p00180").then(pl.lit("b")).otherwise(pl.lit("c")))
    return records_from_frame(frame.with_columns(benchmark=bench))
