"""Which prompts and models a pool sweep sees: the seeded train / validation / test split of
prompts, and RouterEval's candidate pools (groups of strong, weak or strong-to-weak models
chosen to maximise the oracle)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["GROUPS", "POOL_SIZES", "split_three", "select_pool", "stable_hash"]

GROUPS = ("all_strong", "all_weak", "strong_to_weak")
POOL_SIZES = (3, 5, 10, 100, 1000)
_SIDE_SHARE = 0.2  # all_strong / all_weak windows live in the top / bottom 20% of the ranking
_ACC_RANGE = (0.1, 0.9)  # RouterEval keeps models with accuracy strictly inside this range


def split_three(records, *, seed: int, val: float = 0.1, test: float = 0.1) -> tuple:
    """Seeded train / validation / test split of whole prompts, stratified by benchmark.

    Two calls of ``Records.split_prompts``: ``test`` of every benchmark's prompts, then
    ``val`` of the original size from the rest (RouterEval's 80/10/10 by default).
    """
    if not (0 < test < 1 and 0 <= val < 1 and val + test < 1):
        raise ValueError(f"need 0 < test, 0 <= val and val + test < 1 (got val={val}, test={test})")
    rest, test_r = records.split_prompts(test, seed=seed)
    if val == 0:
        return rest, None, test_r
    train, val_r = rest.split_prompts(val / (1 - test), seed=seed + 1)
    return train, val_r, test_r


def _candidates(ranked: np.ndarray, m: int, group: str, rng: np.random.Generator) -> np.ndarray:
    """One random pool of ``group`` from models ``ranked`` best first (RouterEval's groups)."""
    n = len(ranked)
    if group == "strong_to_weak":  # one model from each of m equal rank groups
        return np.array([rng.choice(g) for g in np.array_split(ranked, m)])
    side = max(int(math.ceil(_SIDE_SHARE * n)), m)  # top / bottom 20%, at least m models
    region = ranked[:side] if group == "all_strong" else ranked[::-1][:side]
    start = int(rng.integers(0, side - m + 1))  # a window of m rank-adjacent models
    return region[start:start + m]


def select_pool(selection: np.ndarray, m: int, group: str, rng: np.random.Generator, *,
                candidates: int = 32) -> np.ndarray:
    """Column indices of one pool of ``m`` models, chosen from ``selection`` (prompts x models).

    Models whose mean on ``selection`` lies in (0.1, 0.9) are ranked by it; ``candidates``
    random pools of the group are drawn and the one whose oracle on ``selection`` is highest
    is kept (RouterEval maximises the oracle). Pass training prompts only as ``selection``
    to keep the test prompts out of the choice.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; choose from {GROUPS}")
    acc = np.nanmean(selection, axis=0)
    inside = np.flatnonzero((acc > _ACC_RANGE[0]) & (acc < _ACC_RANGE[1]))
    if m > len(inside):
        raise ValueError(f"pool of {m} models asked, only {len(inside)} eligible models")
    ranked = inside[np.argsort(-acc[inside], kind="stable")]
    best, best_oracle = None, -np.inf
    for _ in range(max(1, candidates)):
        pool = _candidates(ranked, m, group, rng)
        oracle = float(np.nanmax(selection[:, pool], axis=1).mean())
        if oracle > best_oracle:
            best, best_oracle = pool, oracle
    return best


def stable_hash(text: str) -> int:
    """A seed from a name that is the same in every process (Python's ``hash`` is salted)."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") % (2 ** 31)
