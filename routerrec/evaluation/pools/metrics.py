"""RouterEval's metrics of a router on one candidate pool: mu, V_B, V_R and E_p.

Learned routers pick through ``Router.choose`` on their scores; the reference routers of
``routerrec.routing.reference`` report exact expectations under their pick distributions
(never averages of random draws). See docs/pools.md for the definitions.
"""
from __future__ import annotations

import numpy as np

from ...routing.reference import entropy_bits

__all__ = ["TEMPERATURE", "REFERENCE_ACCURACY", "RO_P", "REFERENCE_ROUTERS", "EXACT_REFERENCES",
           "FITTED_REFERENCES", "reference_accuracy",
           "reference_routers", "pool_metrics", "router_metrics", "reference_metrics"]

# One score -> probability map for every router's E_p: softmax(score / TEMPERATURE).
TEMPERATURE = 0.1
# RouterEval's reference accuracies (V_R's denominator), keyed by its benchmark names.
REFERENCE_ACCURACY = {"arc": .852, "hellaswag": .953, "mmlu": .864, "truthfulqa": .669,
                      "winogrande": .875, "gsm8k": .92, "ifeval": .7689, "bbh": .8303,
                      "gpqa": .397, "math": .4, "musr": .699, "mmlu_pro": .637}
_ALIASES = {"harness_arc_challenge_25": "arc", "arc_challenge": "arc", "arc-challenge": "arc",
            "harness_hellaswag_10": "hellaswag", "harness_gsm8k_5": "gsm8k",
            "harness_truthfulqa_mc_0": "truthfulqa", "harness_winogrande_5": "winogrande",
            "mmlu-pro": "mmlu_pro", "math_lvl5": "math"}
RO_P = (0.25, 0.5, 0.75)
# RouterEval's reference routers: report name -> (registered router, its parameters)
_REFERENCE = {"oracle": ("oracle", {}), "best-single": ("best-single", {}),
              "random": ("random", {}), **{f"r_o({p})": ("oracle-p", {"p": p}) for p in RO_P}}
EXACT_REFERENCES = tuple(_REFERENCE)  # answered on the truth matrix (``reference_metrics``)
# reference routers fitted on each benchmark's training prompts (they read the prompts'
# texts), scored like a learned router (``router_metrics``); task-best is not among them:
# inside one benchmark every prompt has the same task, so it is best-single
FITTED_REFERENCES = ("cluster-best",)
REFERENCE_ROUTERS = (*EXACT_REFERENCES, *FITTED_REFERENCES)  # every reference row reported


def reference_accuracy(benchmark: str) -> float | None:
    """RouterEval's reference accuracy for ``benchmark`` (its own or Open LLM names), or None."""
    key = benchmark.lower()
    return REFERENCE_ACCURACY.get(_ALIASES.get(key, key))


def reference_routers() -> dict:
    """``{report name: reference router}`` of ``routerrec.routing.reference``, unfitted (on a
    truth matrix they need only the truth and the training means)."""
    from ...routing.registry import make_router

    return {name: make_router(kind, **params) for name, (kind, params) in _REFERENCE.items()}


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _score_entropy(scores: np.ndarray, temperature: float) -> float:
    """E_p of a router that scores the candidates: mean bits of softmax(scores / temperature)."""
    return float(entropy_bits(_softmax(scores, temperature)).mean())


def pool_metrics(truth: np.ndarray, mu: float, best: int, *, e_p: float,
                 reference: float | None = None) -> dict:
    """RouterEval's metrics of one router on one pool, given its ``mu`` and ``e_p``.

    ``truth`` is test prompts x pool models; ``mu`` the mean true score of the router's
    picks (an exact expectation for random routers); ``best`` the pool column of the best
    single model as identified on training prompts. Returns ``mu``, ``v_b`` (mu / that
    model's test mean), ``v_b_test`` (mu / the best test mean in the pool, the hindsight
    denominator, biased upward on few test prompts), ``v_r`` (mu / ``reference``) and
    ``e_p``.
    """
    def ratio(a, b):
        return a / b if b and b > 0 else float("nan")

    return {"mu": mu, "v_b": ratio(mu, float(truth[:, best].mean())),
            "v_b_test": ratio(mu, float(truth.mean(axis=0).max())),
            "v_r": ratio(mu, reference) if reference else float("nan"), "e_p": e_p}


def router_metrics(router, truth: np.ndarray, scores: np.ndarray, best: int, *,
                   reference: float | None = None, temperature: float = TEMPERATURE) -> dict:
    """``pool_metrics`` of a router that scores the pool: it picks by ``router.choose`` on
    ``scores`` (every candidate costs the same: ties go to the first), and its ``e_p`` is the
    mean entropy in bits of softmax(scores / temperature)."""
    picks = router.choose(scores, np.zeros(scores.shape))
    return pool_metrics(truth, float(truth[np.arange(len(truth)), picks].mean()), best,
                        reference=reference, e_p=_score_entropy(scores, temperature))


def reference_metrics(truth: np.ndarray, train_mean: np.ndarray, best: int, *,
                      reference: float | None = None, temperature: float = TEMPERATURE) -> dict:
    """``{name: pool_metrics}`` of the reference routers on one pool (``EXACT_REFERENCES``),
    exact expectations from each router's pick distribution (``expected_score``).

    oracle ranks by the true scores, best-single by the training means ``train_mean``, and
    their ``e_p`` is that of those scores (as in ``router_metrics``); random and r_o(p)
    (the oracle's pick with probability p, else a uniform random model) draw at random, and
    their ``e_p`` is the entropy of their pick distribution (``pick_entropy``).
    """
    out = {}
    for name, router in reference_routers().items():
        e_p = (router.pick_entropy(truth, train_means=train_mean) if router.randomised
               else _score_entropy(router.truth_scores(truth, train_mean), temperature))
        out[name] = pool_metrics(truth, router.expected_score(truth, train_means=train_mean), best,
                                 reference=reference, e_p=e_p)
    return out
