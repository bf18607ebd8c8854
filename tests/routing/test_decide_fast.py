"""The per-call shortcuts of routing one prompt give the same numbers as the general code
they replace: the tfidf projection without a scipy matrix, the serial counting kernel, the
encoder's steps after counting in one kernel (numpy's log and L2 scaling to the bit), and
the pick rule's fewer numpy steps (``choose`` against its rules written out plainly)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from routerrec.kernels.assign import linear_argmax
from routerrec.kernels.hashing import hash_counts, hash_counts_serial, l2_rows_numpy
from routerrec.routing.cost import choose
from routerrec.routing.encoders import TfidfEncoder
from routerrec.routing.encoders.base import l2_rows
from routerrec.routing.encoders.tfidf import SERIAL_BYTES, _log_table, _word_table
from routerrec.routing.registry import make_router
from planted import topic_records, topic_text, TOPICS


def _texts(n, seed=3):
    rng = np.random.default_rng(seed)
    return [topic_text(rng, list(TOPICS)[i % 3]) for i in range(n)] + [
        "", "   ", "é ü 中文 ok ok", "a", "\ud800 lone surrogate"]


@pytest.fixture(scope="module", params=[24, 150])  # above 128 numpy's sums split in halves
def encoder(request):
    return TfidfEncoder(dim=request.param, ngram_max=2, n_features=2 ** 12).fit(_texts(300))


def _scipy_transform(enc, texts):
    """The tfidf features through a scipy CSR matrix and np.linalg.norm (what transform did)."""
    from routerrec.kernels.hashing import normalize_rows_l2
    from routerrec.routing.encoders.tfidf import _counts

    counts = _counts(texts, n_features=enc.n_features, ngram_max=enc.ngram_max,
                     lookup=enc._lookup, width=len(enc.used_), n_jobs=None)
    counts.data = (1.0 + np.log(counts.data)) * enc.idf_[counts.indices]
    normalize_rows_l2(counts.data, counts.indptr)
    z = np.asarray(counts @ enc.components_, dtype=np.float32)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize("n", [1, 7, 600])  # 600 prompts pass SERIAL_BYTES: the parallel kernel
def test_tfidf_transform_is_scipys_product_to_the_bit(encoder, n):
    texts = _texts(n, seed=11)[:n]
    assert (sum(map(len, texts)) > SERIAL_BYTES) == (n == 600)
    got, want = encoder.transform(texts), _scipy_transform(encoder, texts)
    assert got.dtype == np.float32 and got.shape == (n, encoder.width)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_the_kernels_l2_scaling_is_numpys_to_the_bit():
    """``l2_rows_numpy`` replays numpy's pairwise float32 sum: widths around its blocks of 8
    and 128 and several halvings, zero rows, scales far from 1."""
    rng = np.random.default_rng(4)
    for width in [*range(1, 140), 255, 256, 257, 384, 1000, 1024, 4099]:
        z = (rng.standard_normal((3, width)) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
        z[rng.random(z.shape) < 0.3] = 0
        z[1] = 0
        want = l2_rows(z.copy())
        assert np.array_equal(l2_rows_numpy(z).view(np.uint32), want.view(np.uint32)), width


def test_the_log_table_is_numpys_log_of_each_count():
    table = _log_table()
    assert len(table) == SERIAL_BYTES + 1 and table.dtype == np.float32
    counts = np.arange(1, SERIAL_BYTES + 1, dtype=np.float32)
    assert np.array_equal(table[1:], np.log(counts))
    for k in (1, 2, 3, 17, 1000, SERIAL_BYTES):  # one count alone, as a prompt's few are
        assert table[k] == np.log(np.array([k], np.float32))[0]


def test_linear_argmax_picks_numpys_group_whatever_the_batch():
    """The groups' linear rule in one loop: numpy's argmax of ``x @ coef.T + intercept``
    (random scores have no near-ties), NaN scores winning first as in numpy, and each prompt's
    group the same alone as in a batch."""
    rng = np.random.default_rng(8)
    for n, width, groups in ((1, 256, 4), (40, 128, 64), (300, 7, 2), (5, 3, 1)):
        x = rng.standard_normal((n, width)).astype(np.float32)
        coef, intercept = rng.standard_normal((groups, width)), rng.standard_normal(groups)
        picks = linear_argmax(x, coef, intercept)
        assert np.array_equal(picks, (x @ coef.T + intercept).argmax(axis=1))
        assert [linear_argmax(x[i:i + 1], coef, intercept)[0] for i in range(n)] == list(picks)
    x = np.array([[1.0, 2.0], [3.0, 0.0], [np.nan, 1.0]], np.float32)
    rule, intercept = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 5.0]]), np.array([0, np.nan, 0])
    want = (x @ rule.T + intercept).argmax(axis=1)
    assert list(want) == [1, 1, 0]  # the first NaN, not the largest number
    assert np.array_equal(linear_argmax(x, rule, intercept), want)


def test_the_serial_and_parallel_counting_kernels_agree():
    texts = [t.lower().encode("utf-8", "surrogatepass") for t in _texts(50)]
    starts = np.concatenate([[0], np.cumsum([len(t) for t in texts])]).astype(np.int64)
    data = np.frombuffer(b"".join(texts), dtype=np.uint8)
    args = (data, starts, _word_table(), np.arange(2 ** 10, dtype=np.int64), 2 ** 10, 3)
    for a, b in zip(hash_counts(*args), hash_counts_serial(*args)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _choose_plainly(scores, costs, wtp=None, max_cost=None):
    """The pick rule, one row at a time (routing/cost.py's docstring): best value, ties within
    1e-12 relative to the cheaper known cost, nothing fitting -> the cheapest overall."""
    picks = []
    for i, (s, c) in enumerate(zip(np.asarray(scores, float), np.asarray(costs, float))):
        value = s * wtp - c if wtp is not None else s.copy()
        value[np.isnan(value)] = -np.inf
        if max_cost is not None:
            budget = max_cost if np.ndim(max_cost) == 0 else max_cost[i]
            value[~(c <= budget)] = -np.inf
        best = value.max()
        tied = (value >= best - 1e-12 * max(1.0, abs(best))) if np.isfinite(best) else \
            np.ones(len(value), bool)
        key = [(0 if tied[j] else 1, np.finfo(float).max if np.isnan(c[j]) or c[j] == np.inf
                else c[j], j) for j in range(len(c))]
        picks.append(min(key)[2])
    return np.array(picks)


@pytest.mark.parametrize("options", [{}, {"wtp": 0.0}, {"wtp": 3.0}, {"max_cost": 0.5},
                                     {"max_cost": 0.0}, {"per_row": True}])
def test_choose_follows_its_rules_with_nan_inf_and_ties(options):
    rng = np.random.default_rng(5)
    scores = rng.choice([0.0, 0.25, 0.5, 1.0, np.nan, np.inf], size=(400, 6),
                        p=[.3, .2, .2, .2, .05, .05])
    costs = rng.choice([0.0, 0.1, 0.5, 1.0, np.nan, np.inf], size=(400, 6),
                       p=[.2, .3, .2, .2, .05, .05])
    costs[:5] = np.nan  # rows whose costs are all unknown
    scores[5:10] = np.nan  # and rows whose scores are
    if options.pop("per_row", False):
        options["max_cost"] = list(rng.choice([0.0, 0.1, 0.6], size=400))
    with np.errstate(invalid="ignore"):  # inf - inf: an unknown value, as NaN
        picks = choose(scores, costs, **options)
        assert np.array_equal(picks, _choose_plainly(scores, costs, **options))
        one_by_one = [choose(scores[i:i + 1], costs[i:i + 1], **{
            k: (v[i] if k == "max_cost" and np.ndim(v) else v) for k, v in options.items()})[0]
            for i in range(len(scores))]
    assert one_by_one == list(picks)


def test_decide_one_prompt_at_a_time_equals_one_call(tmp_path):
    router = make_router("knn", cost="length", encoder_params=dict(dim=16)).fit(
        topic_records(200, seed=2))
    texts = _texts(40, seed=9)
    for options in ({}, {"wtp": 20.0}, {"max_cost": 0.002}, {"models": router.models_[:2]}):
        together = router.decide(texts, ranks=2, **options)
        assert [router.decide([t], ranks=2, **options)[0] for t in texts] == together
