"""One fitted mf router per test session (ALS rank 4, identity link: the exact Gaussian case,
and logistic, the sample's default), shared by the online tests."""
import pytest

import routerrec
from routerrec.routing.registry import make_router

from online_helpers import HELD_OUT


@pytest.fixture(scope="session")
def sample_split():
    return routerrec.load_sample().split_prompts(0.5, seed=0)


@pytest.fixture(scope="session")
def als_router(sample_split):
    return make_router("mf", method="als", method_params=dict(rank=4)).fit(sample_split[0])


@pytest.fixture(scope="session")
def logistic_router(sample_split):
    return make_router("mf", method="logistic", method_params=dict(rank=4)).fit(sample_split[0])


@pytest.fixture(scope="session")
def held_out_split(sample_split):
    """(train without HELD_OUT, its router (ALS rank 4), the held-out model's train records)."""
    train = sample_split[0]
    others = [m for m in train.models if m != HELD_OUT]
    kept = train.filter(models=others)
    router = make_router("mf", method="als", method_params=dict(rank=4)).fit(kept)
    return kept, router, train.filter(models=[HELD_OUT])
