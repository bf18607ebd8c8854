"""Property suite: whatever a model directory holds, ``read_artifact`` returns arrays within
the byte limit or raises ArtifactError, in bounded time and memory.

Runs the shared profile (tests/properties.py): 200 cases per property, 20,000 with
``HYPOTHESIS_PROFILE=long``. The number of generated cases is printed in the terminal summary.
"""
import json
import shutil
import string
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hostile_files import MANIFEST, artifact_dir, npy_bytes, npy_header, npz_bytes, zip_bytes
from properties import PROFILE, json_values as json_strategy
from routerrec.util.artifacts import ArtifactError, read_artifact
from routerrec.util.limits import MAX_BYTES_ENV

LIMIT = 1 << 20            # ROUTERREC_MAX_ARRAY_BYTES during these tests
PEAK = 4 * LIMIT           # most any one read may allocate

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def small_limit():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MAX_BYTES_ENV, str(LIMIT))
        yield


@pytest.fixture
def fresh_dir(tmp_path):
    """A function that empties and returns one directory per example."""
    def make():
        path = tmp_path / "m"
        shutil.rmtree(path, ignore_errors=True)
        return path
    return make


def read_or_refuse(path, expect=None):
    """Read ``path``; assert it either fails with ArtifactError or stays within the limit."""
    tracemalloc.start()
    try:
        manifest, arrays = read_artifact(path, fmt="routerrec-model", what="model",
                                         expect=expect)
    except ArtifactError as exc:
        assert str(path) in str(exc)
        result = None
    else:
        assert isinstance(manifest, dict)
        assert sum(a.nbytes for a in arrays.values()) <= LIMIT
        assert not any(a.dtype.hasobject for a in arrays.values())
        result = arrays
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK
    return result


small_arrays = st.dictionaries(
    st.text(string.ascii_lowercase, min_size=1, max_size=8),
    hnp.arrays(st.sampled_from(["<f8", "<f4", "<i8", "|b1", ">i2", "<c16", "|S3"]),
               hnp.array_shapes(min_dims=0, max_dims=3, max_side=6)),
    max_size=3)
json_values = json_strategy(text=st.text(max_size=10), keys=st.text(max_size=6), max_size=4,
                            max_leaves=20)


@PROFILE
@given(data=st.binary(max_size=4096))
def test_random_bytes(fresh_dir, generated_cases, data):
    generated_cases["random bytes"] += 1
    read_or_refuse(artifact_dir(fresh_dir(), data))


@PROFILE
@given(arrays=small_arrays, compressed=st.booleans(), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), max_size=3))
def test_truncated_and_flipped_archives(fresh_dir, generated_cases, arrays, compressed, cut,
                                        flips):
    generated_cases["truncations and bit flips"] += 1
    good = npz_bytes(compressed, **arrays)
    data = bytearray(good[:round(len(good) * cut)] if cut < 0.98 else good)
    for where, bit in flips:
        if data:
            data[min(int(where * len(data)), len(data) - 1)] ^= 1 << bit
    loaded = read_or_refuse(artifact_dir(fresh_dir(), bytes(data)))
    if bytes(data) == good:
        assert loaded is not None and loaded.keys() == arrays.keys()
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)


@PROFILE
@given(manifest=json_values | st.fixed_dictionaries(
           {"format": st.sampled_from(["routerrec-model", "routerrec-router"]) | json_values,
            "format_version": st.sampled_from([1, 0, "1"]) | json_values},
           optional={"prompts": json_values, "rank": json_values}),
       raw=st.none() | st.binary(max_size=200))
def test_random_manifests(fresh_dir, generated_cases, manifest, raw):
    generated_cases["manifests"] += 1
    text = raw if raw is not None else json.dumps(manifest).encode()
    arrays = npz_bytes(prompt_factors=np.zeros((3, 2)))

    def expect(m):
        return {"prompt_factors": (len(m["prompts"]), m["rank"])}

    read_or_refuse(artifact_dir(fresh_dir(), arrays, text), expect)


dims = st.integers(-2, 10) | st.integers(0, 2**64) | st.sampled_from([10**6, 10**5])
descrs = st.sampled_from(["<f8", "|O", "O", "<U5", "|V0", "|V8", "S0", "<M8[s]", "[('a', '<f4')]",
                          "[('a', 'O')]", "nonsense", "<f8x"]) | st.text(max_size=6)


@PROFILE
@given(descr=descrs, shape=st.lists(dims, max_size=4).map(tuple),
       fortran=st.booleans() | st.sampled_from([0, "yes", None]), header=st.none() | st.text(
           string.printable, max_size=300), version=st.sampled_from([(1, 0), (2, 0), (3, 0),
                                                                     (0, 7)]),
       data=st.binary(max_size=600), compressed=st.booleans(), name=st.sampled_from(
           ["prompt_factors.npy", "x.npy", "x", "../x.npy", "x.npy"]),
       expect=st.none() | st.lists(st.integers(0, 12) | st.none() | st.just("r"),
                                   max_size=3).map(tuple))
def test_npy_headers(fresh_dir, generated_cases, descr, shape, fortran, header, version, data,
                     compressed, name, expect):
    generated_cases["npy headers"] += 1
    text = header if header is not None else npy_header(descr, shape, fortran)
    member = npy_bytes(text, data, version)
    archive = zip_bytes({name: member},
                        zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED)
    wanted = None if expect is None else (lambda m: {name.removesuffix(".npy"): expect})
    read_or_refuse(artifact_dir(fresh_dir(), archive), wanted)
