"""A small synthetic record set with a planted answer, for examples, tests and docs.

``routerrec data sample [--out DIR]`` (:func:`write`) writes ``records.parquet`` and
``prompts.parquet`` to ``data/sample/`` (the repository's ``data/`` folder).
Everything is drawn from ``numpy.random.default_rng(SEED)``, so the files are
reproducible.

How the data are made (see ``data/README.md``):

* 2,000 prompts, 500 in each of 4 benchmarks (math, code, trivia, reasoning),
  and 20 fictional models (``acme-70b``, ``delta-coder-33b``, ...).
* Binary correctness from a planted logistic (IRT) model::

      logit P(correct) = skill[m] + strength[m, benchmark] + u[p] . v[m] - difficulty[p]

  with model skill rising with model size, benchmark-specific strengths
  (coder and math specialists, weak trivia for small models), a rank-2
  interaction and a per-prompt difficulty.
* About 70% of cells observed: 5 (model, benchmark) pairs are never evaluated,
  the rest are observed at random with probability 0.75 (each prompt keeps at
  least one observation).
* Cost per call in USD = (input tokens x input price + output tokens x output
  price) / 1e6, with prices rising with model size and tokens rising with the
  prompt's length, so there is a real cost-quality trade-off.
* Prompt texts come from per-benchmark templates; harder prompts use harder
  vocabulary and more clauses, so TF-IDF separates benchmarks and, partly,
  difficulty.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import polars as pl

from ..util.files import atomic_write
from .load import load_records, records_from_frame
from .locations import SAMPLE_DIR
from .records import Records, RecordsError

__all__ = ["SEED", "BENCHMARKS", "MODELS", "Sample", "generate", "write", "load_sample", "default_dir"]

SEED = 20240601
BENCHMARKS = ("math", "code", "trivia", "reasoning")
N_PROMPTS = 2000
OBSERVE_PROB = 0.75

# name, size (billions of parameters, fictional), input price (USD per 1M tokens)
MODELS = (
    ("acme-1b", 1, 0.04),
    ("acme-8b", 8, 0.15),
    ("acme-70b", 70, 0.90),
    ("acme-405b", 405, 3.50),
    ("bolt-3b", 3, 0.08),
    ("bolt-13b", 13, 0.25),
    ("bolt-34b", 34, 0.60),
    ("corvid-mini", 2, 0.10),
    ("corvid-base", 10, 0.50),
    ("corvid-pro", 60, 3.00),
    ("corvid-ultra", 300, 10.00),
    ("delta-coder-7b", 7, 0.15),
    ("delta-coder-33b", 33, 0.60),
    ("echo-7b", 7, 0.12),
    ("echo-22b", 22, 0.35),
    ("echo-141b", 141, 1.20),
    ("fable-2b", 2, 0.05),
    ("fable-9b", 9, 0.18),
    ("fable-27b", 27, 0.45),
    ("gale-math-7b", 7, 0.20),
)
OUTPUT_PRICE_FACTOR = 3.0

# (model, benchmark) pairs that were never evaluated
NEVER_EVALUATED = (
    ("delta-coder-7b", "trivia"),
    ("delta-coder-33b", "trivia"),
    ("gale-math-7b", "trivia"),
    ("gale-math-7b", "code"),
    ("fable-2b", "code"),
)

# typical answer length (tokens) per benchmark
OUTPUT_TOKENS = {"math": 220, "code": 320, "trivia": 25, "reasoning": 160}
DIFFICULTY_OFFSET = {"math": 0.3, "code": 0.2, "trivia": -0.3, "reasoning": 0.0}

_EASY_WORDS = ("simple", "basic", "short", "quick", "easy", "elementary")
_HARD_WORDS = ("advanced", "rigorous", "tricky", "detailed", "non-trivial", "challenging")

_VOCAB = {
    "math": {
        "easy": [
            "Compute {a} + {b}.",
            "What is {a} times {c}?",
            "Find {p} percent of {b}.",
            "Solve for x: x + {a} = {b}.",
            "Simplify the fraction {a}/{d}.",
        ],
        "hard": [
            "Prove that the sum of the first {c} odd numbers is a perfect square.",
            "Find all integer solutions of x^2 - {c}y^2 = 1 with x below {b}.",
            "Evaluate the integral of x^{c} e^x from 0 to {c}.",
            "Determine the eigenvalues of the matrix [[{c}, 1], [1, {d}]].",
            "How many lattice paths of length {b} avoid the diagonal?",
        ],
        "clauses": [
            "Show every step of the algebra.",
            "Give the answer as an exact fraction.",
            "Justify each inequality you use.",
            "Check the result by substitution.",
            "State which theorem you apply.",
        ],
    },
    "code": {
        "easy": [
            "Write a Python function that returns the maximum of a list.",
            "Write a function that reverses a string.",
            "Write a loop that prints the numbers 1 to {a}.",
            "Write a function that counts the vowels in a string.",
            "Write a function that checks whether {a} is even.",
        ],
        "hard": [
            "Implement a thread-safe LRU cache with O(1) get and put.",
            "Write a parser for arithmetic expressions with operator precedence.",
            "Implement Dijkstra's shortest path algorithm on a graph of {b} nodes with a binary heap.",
            "Write a function that serializes a binary tree and deserializes it back.",
            "Implement a concurrent rate limiter using asyncio and a token bucket.",
        ],
        "clauses": [
            "Include unit tests with pytest.",
            "Handle empty input and raise ValueError on bad types.",
            "Add type hints and a docstring.",
            "The solution must run in linear time.",
            "Avoid recursion because the input may be deep.",
        ],
    },
    "trivia": {
        "easy": [
            "What is the capital of {country}?",
            "Which planet is known as the red planet?",
            "What colour is the sky on a clear day?",
            "How many legs does a spider have?",
            "Which ocean lies west of {country}?",
        ],
        "hard": [
            "Which treaty ended the war between {country} and its neighbour in {year}?",
            "Who was the court composer in {country} around {year}?",
            "Which obscure mineral was first described in {country} in {year}?",
            "Name the dynasty that ruled {country} before {year}.",
            "Which chemist isolated the element discovered in {year}?",
        ],
        "clauses": [
            "Answer with a single name.",
            "Give the year as well.",
            "Mention the historical source.",
            "Only the name, no explanation.",
        ],
    },
    "reasoning": {
        "easy": [
            "If all cats are animals and Tom is a cat, is Tom an animal?",
            "Anna is taller than Ben. Who is shorter?",
            "A box has {a} red balls and no blue balls. Can you draw a blue ball?",
            "If today is Monday, what day is tomorrow?",
            "Which is heavier, {a} kilograms of iron or {b} kilograms of feathers?",
        ],
        "hard": [
            "Five people sit in a row; Alice is not next to Bob, Carol sits left of Dave and Eve is at an end. "
            "Who sits in the middle?",
            "Knights always tell the truth and knaves always lie; A says 'B is a knave', B says 'we are the same'. "
            "What are A and B?",
            "If some logicians are poets and no poet is a banker, can some logicians be bankers?",
            "A clock gains {a} minutes per hour; after how many hours does it show the right time again?",
            "Three switches control three bulbs in another room; you may enter once. How do you match them?",
        ],
        "clauses": [
            "Explain the deduction step by step.",
            "Consider every case before answering.",
            "State any hidden assumption.",
            "Rule out the other options explicitly.",
        ],
    },
}
_COUNTRIES = ("France", "Peru", "Kenya", "Norway", "Vietnam", "Chile", "Poland", "Ghana", "Japan", "Portugal")


class Sample(NamedTuple):
    """Output of :func:`generate`."""

    records: pl.DataFrame  # prompt, model, score, cost, benchmark
    prompts: pl.DataFrame  # prompt, text, benchmark
    truth: pl.DataFrame  # prompt, model, p_correct, difficulty (every cell, observed or not)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _make_text(rng: np.random.Generator, bench: str, z: float) -> str:
    """Template text for a prompt of benchmark ``bench`` and standardised difficulty ``z``."""
    v = _VOCAB[bench]
    hard = rng.random() < _sigmoid(1.8 * z)  # harder prompts mostly use hard templates
    pool = v["hard"] if hard else v["easy"]
    template = pool[rng.integers(len(pool))]
    fill = dict(
        a=int(rng.integers(2, 50)),
        b=int(rng.integers(50, 1000)),
        c=int(rng.integers(2, 9)),
        d=int(rng.integers(3, 20)),
        p=int(rng.choice([5, 10, 20, 25, 50])),
        country=_COUNTRIES[rng.integers(len(_COUNTRIES))],
        year=int(rng.integers(1300, 1900)),
    )
    words = _HARD_WORDS if rng.random() < _sigmoid(1.5 * z) else _EASY_WORDS
    lead = f"{words[rng.integers(len(words))].capitalize()} {bench} question:"
    n_clauses = int(np.clip(np.round(1 + z + rng.normal(0, 0.7)), 0, 3))
    picks = rng.permutation(len(v["clauses"]))[:n_clauses]
    return " ".join([lead, template.format(**fill), *[v["clauses"][i] for i in picks]])


def generate(seed: int = SEED, n_prompts: int = N_PROMPTS) -> Sample:
    """Draw the synthetic record set (deterministic for a given ``seed``)."""
    rng = np.random.default_rng(seed)
    names = [m[0] for m in MODELS]
    size = np.array([m[1] for m in MODELS], dtype=float)
    price_in = np.array([m[2] for m in MODELS], dtype=float)
    n_m, n_b = len(MODELS), len(BENCHMARKS)

    # prompts: benchmark, difficulty, low-rank factor
    bench_idx = np.arange(n_prompts) * n_b // n_prompts
    per_bench_i = np.concatenate([np.arange((bench_idx == b).sum()) for b in range(n_b)])
    prompt_ids = [f"{BENCHMARKS[b]}-{i:04d}" for b, i in zip(bench_idx, per_bench_i)]
    z = rng.normal(0.0, 1.0, n_prompts)
    difficulty = 1.3 * z + np.array([DIFFICULTY_OFFSET[b] for b in BENCHMARKS])[bench_idx]
    u = rng.normal(0.0, 0.6, (n_prompts, 2))

    # models: skill from size, benchmark strengths, low-rank factor, verbosity
    skill = 0.45 * np.log2(size) - 0.9 + rng.normal(0.0, 0.25, n_m)
    strength = rng.normal(0.0, 0.35, (n_m, n_b))
    b_of = {b: i for i, b in enumerate(BENCHMARKS)}
    strength[:, b_of["trivia"]] += 0.3 * (np.log2(size) - 4.0)  # knowledge grows with size
    for j, name in enumerate(names):
        if "coder" in name:
            strength[j, b_of["code"]] += 1.6
            strength[j, b_of["trivia"]] -= 0.8
        if "math" in name:
            strength[j, b_of["math"]] += 1.8
            strength[j, b_of["reasoning"]] += 0.5
    v = rng.normal(0.0, 0.6, (n_m, 2))
    verbosity = rng.lognormal(0.0, 0.2, n_m)

    logit = skill[None, :] + strength[:, bench_idx].T + u @ v.T - difficulty[:, None]
    p_correct = _sigmoid(logit)
    correct = (rng.random((n_prompts, n_m)) < p_correct).astype(np.float64)

    observed = rng.random((n_prompts, n_m)) < OBSERVE_PROB
    for name, bench in NEVER_EVALUATED:
        observed[bench_idx == b_of[bench], names.index(name)] = False
    empty = np.flatnonzero(~observed.any(axis=1))
    for i in empty:  # every prompt keeps at least one observation
        allowed = [j for j in range(n_m) if (names[j], BENCHMARKS[bench_idx[i]]) not in NEVER_EVALUATED]
        observed[i, allowed[rng.integers(len(allowed))]] = True

    texts = [_make_text(rng, BENCHMARKS[b], zi) for b, zi in zip(bench_idx, z)]
    in_tokens = np.array([len(t) for t in texts], dtype=float) / 4.0 + 40.0  # + system prompt
    out_mean = np.array([OUTPUT_TOKENS[b] for b in BENCHMARKS])[bench_idx] * (1.0 + 0.25 * np.clip(z, -1, 3))
    out_tokens = out_mean[:, None] * verbosity[None, :] * rng.lognormal(0.0, 0.3, (n_prompts, n_m))
    cost = (in_tokens[:, None] * price_in[None, :] + out_tokens * price_in[None, :] * OUTPUT_PRICE_FACTOR) / 1e6
    cost = np.round(cost, 9)

    pi, mj = np.nonzero(observed)
    pid = pl.Series("prompt", prompt_ids, dtype=pl.String)
    mid = pl.Series("model", names, dtype=pl.String)
    bench_names = pl.Series("benchmark", [BENCHMARKS[b] for b in bench_idx], dtype=pl.String)
    records = pl.DataFrame(
        {
            "prompt": pid.gather(pi),
            "model": mid.gather(mj),
            "score": correct[pi, mj],
            "cost": cost[pi, mj],
            "benchmark": bench_names.gather(pi),
        }
    )
    prompts = pl.DataFrame({"prompt": pid, "text": pl.Series(texts, dtype=pl.String), "benchmark": bench_names})
    ai, aj = np.nonzero(np.ones_like(observed))
    truth = pl.DataFrame(
        {
            "prompt": pid.gather(ai),
            "model": mid.gather(aj),
            "p_correct": p_correct[ai, aj],
            "difficulty": difficulty[ai],
        }
    )
    return Sample(records, prompts, truth)


def default_dir() -> Path:
    """``<repo root>/data/sample`` (next to the ``routerrec`` package)."""
    return SAMPLE_DIR


def write(out_dir: Optional[Path] = None, seed: int = SEED) -> list:
    """Generate and write ``records.parquet`` and ``prompts.parquet``; returns their paths."""
    out = Path(out_dir) if out_dir is not None else default_dir()  # atomic_write makes it
    s = generate(seed)
    paths = [out / "records.parquet", out / "prompts.parquet"]
    for frame, path in zip((s.records, s.prompts), paths):
        atomic_write(path, lambda p, f=frame: f.write_parquet(p, compression="zstd",
                                                              statistics=False))
    return paths


def load_sample(dir: Optional[Path] = None) -> Records:
    """The synthetic sample as :class:`~routerrec.data.records.Records`, with texts.

    Reads ``data/sample/`` (or ``dir``); when the files are absent (e.g. an
    installed package without the repository's ``data/``), generates the
    same data in memory.
    """
    d = Path(dir) if dir is not None else default_dir()
    rp, pp = d / "records.parquet", d / "prompts.parquet"
    if rp.exists() and pp.exists():
        rec = load_records(rp)
        prompts = pl.read_parquet(pp, columns=["prompt", "text"])
    else:
        if dir is not None:
            raise RecordsError("sample files records.parquet / prompts.parquet not found", path=d)
        s = generate()
        rec = records_from_frame(s.records, source="<sample>")
        prompts = s.prompts.select("prompt", "text")
    return rec.with_texts(prompts)
