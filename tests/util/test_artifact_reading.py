"""Damaged and hostile model directories: one clear error, no hang, nothing large allocated."""
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

from hostile_files import (MANIFEST, artifact_dir, claim_size, npy_bytes, npy_header,
                           npz_bytes, zip_bytes)
from routerrec.util.artifacts import ArtifactError, read_artifact
from routerrec.util.limits import MAX_BYTES_ENV


def read(path, **options):
    return read_artifact(path, fmt="routerrec-model", what="model", **options)


def refused(path, match, **options):
    with pytest.raises(ArtifactError, match=match) as caught:
        read(path, **options)
    return str(caught.value)


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, str(1 << 20))


def test_a_fifo_fails_at_once(tmp_path):
    for name in ("arrays.npz", "manifest.json"):
        path = artifact_dir(tmp_path / name, npz_bytes(values=np.ones(3)))
        (path / name).unlink()
        os.mkfifo(path / name)
        refused(path, "not a regular file")  # a blocking open would hang this test


def test_a_device_is_not_read(tmp_path):
    path = artifact_dir(tmp_path / "m", b"")
    (path / "arrays.npz").unlink()
    (path / "arrays.npz").symlink_to("/dev/zero")
    refused(path, "not a regular file")


@pytest.mark.parametrize("compressed", [False, True])
def test_truncations_and_bit_flips_name_the_file(tmp_path, compressed):
    good = npz_bytes(compressed, values=np.arange(1000.0), other=np.ones((10, 10), np.int32))
    cases = [good[:n] for n in (0, 10, len(good) // 2, len(good) - 30, len(good) - 1)]
    for at in (100, len(good) // 2, len(good) - 300):  # data, not headers: the CRC sees it
        flipped = bytearray(good)
        flipped[at] ^= 0x10
        cases.append(bytes(flipped))
    for i, data in enumerate(cases):
        path = artifact_dir(tmp_path / str(i), data)
        message = refused(path, "arrays.npz")
        assert str(path / "arrays.npz") in message


def test_a_header_claiming_huge_shapes_is_refused_before_allocation(tmp_path):
    member = npy_bytes(npy_header("<f8", (1_000_000, 100_000)), b"\0" * 64)
    path = artifact_dir(tmp_path / "m", zip_bytes({"prompt_factors.npy": member}))
    tracemalloc.start()
    try:
        refused(path, r"header says \(1000000, 100000\) of float64 \(745.1 GiB\)")
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def test_a_zip_claiming_more_than_the_limit_is_refused(tmp_path, small_limit):
    member = npy_bytes(npy_header("<f8", (8,)), b"\0" * 64)
    lying = claim_size(zip_bytes({"values.npy": member}), 3_000_000_000)
    refused(artifact_dir(tmp_path / "m", lying), "would take 2.8 GiB, above the limit of "
            rf"1.0 MiB \(raise it with {MAX_BYTES_ENV}\)")


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, small_limit):
    bomb = npz_bytes(True, values=np.zeros(4_000_000))  # 32 MB of zeros in ~30 KB
    assert len(bomb) < 100_000
    path = artifact_dir(tmp_path / "m", bomb)
    tracemalloc.start()
    try:
        refused(path, "would take 30.5 MiB, above the limit")
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def test_shapes_are_checked_against_the_manifest_before_reading(tmp_path):
    arrays = npz_bytes(prompt_factors=np.zeros((4, 3)), model_factors=np.zeros((2, 5)))
    path = artifact_dir(tmp_path / "m", arrays, {**MANIFEST, "prompts": list("abcd"),
                                                 "models": ["x", "y"]})

    def expect(manifest):
        return {"prompt_factors": (len(manifest["prompts"]), "rank"),
                "model_factors": (len(manifest["models"]), "rank")}

    refused(path, r"'model_factors' has shape \(2, 5\); the manifest implies \(2, 'rank'\)",
            expect=expect)
    refused(path, "array 'prompt_bias' is missing", expect=lambda m: {"prompt_bias": (4,)})
    refused(path, "incomplete manifest .KeyError", expect=lambda m: {"x": (m["rank"],)})
    _, loaded = read(path, expect=lambda m: {"prompt_factors": (4, None)})
    assert loaded["prompt_factors"].shape == (4, 3)


def test_pickled_objects_are_never_loaded(tmp_path):
    arrays = npz_bytes(values=np.array([{"run": "code"}], dtype=object))
    refused(artifact_dir(tmp_path / "m", arrays), "never loads pickled data")


def test_members_np_savez_would_not_write_are_refused(tmp_path):
    good = npy_bytes(npy_header("<f8", (1,)), b"\0" * 8)
    cases = {"raw": zip_bytes({"notes.txt": b"hello"}),
             "lzma": zip_bytes({"values.npy": good}, zipfile.ZIP_LZMA),
             "version 3": zip_bytes({"values.npy": npy_bytes(npy_header("<f8", (1,)), b"\0" * 8,
                                                             (3, 0))}),
             "negative": zip_bytes({"values.npy": npy_bytes(npy_header("<f8", (-1, -1)),
                                                            b"\0" * 8)})}
    for name, data in cases.items():
        refused(artifact_dir(tmp_path / name, data), "arrays.npz: ")


def test_fortran_order_and_empty_arrays_round_trip(tmp_path):
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
              "empty": np.zeros((0, 7), np.float32), "b": np.array([True, False])}
    for compressed in (False, True):
        _, loaded = read(artifact_dir(tmp_path / str(compressed), npz_bytes(compressed, **arrays)))
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)
            assert loaded[name].dtype == array.dtype


def test_manifests_too_large_or_too_deep_are_refused(tmp_path, small_limit):
    arrays = npz_bytes(values=np.ones(3))
    refused(artifact_dir(tmp_path / "deep", arrays, b"[" * 100_000 + b"]" * 100_000),
            "corrupt manifest")
    big = {**MANIFEST, "prompts": ["p" * 100] * 20_000}
    refused(artifact_dir(tmp_path / "big", arrays, big), "larger than 1.0 MiB")
    refused(artifact_dir(tmp_path / "list", arrays, b"[1, 2]"), "not a JSON object")
    refused(artifact_dir(tmp_path / "utf16", arrays, "{}".encode("utf-16") + b"\xff"),
            "corrupt manifest")


def test_a_central_directory_listing_thousands_of_members_is_refused(tmp_path):
    archive = zip_bytes({f"a{i}.npy": b"" for i in range(2000)})
    refused(artifact_dir(tmp_path / "m", archive), "lists 2000 members")
