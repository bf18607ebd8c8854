"""psd_cholesky: numpy's factor when it exists, a minimally jittered one when rounding left a
covariance slightly indefinite, a clear error when nothing can help."""
import numpy as np
import pytest

from routerrec.kernels.linalg import psd_cholesky


def test_positive_definite_stacks_get_numpys_factor_unchanged():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 10, 4))
    a = np.einsum("nsk,nsl->nkl", x, x) + np.eye(4)
    np.testing.assert_array_equal(psd_cholesky(a), np.linalg.cholesky(a))


def test_a_slightly_indefinite_covariance_gets_the_smallest_jitter_that_works():
    v = np.array([1.0, 1.0, 1e-3])
    a = np.outer(v, v) * 1e3   # rank one: positive semi-definite, singular
    a[2, 2] -= 1e-9            # rounding-sized damage: now slightly indefinite
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(a)
    good = np.stack([np.eye(3), a])
    low = psd_cholesky(good)
    np.testing.assert_allclose(low @ np.swapaxes(low, 1, 2), good, atol=1e-6 * np.abs(a).max())
    assert np.all(np.isfinite(low))


def test_nan_is_reported_not_hidden():
    with pytest.raises(np.linalg.LinAlgError, match="holds NaN or inf"):
        psd_cholesky(np.full((2, 2), np.nan))  # numpy alone returns NaN factors
    with pytest.raises(np.linalg.LinAlgError, match="not positive semi-definite, even with"):
        psd_cholesky(-np.eye(2))
