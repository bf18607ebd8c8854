"""Saved directories survive kill -9 at any point and concurrent writers (real processes)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from artifact_child import SIZE, read_version, save
from routerrec.util import atomic_dir
from routerrec.util.artifacts import ArtifactError, check_target, read_artifact, write_artifact

CHILD = Path(__file__).with_name("artifact_child.py")
FALLBACK = [pytest.param(False, id="exchange"), pytest.param(True, id="fallback")]


def run_child(mode, path, *args) -> str:
    done = subprocess.run([sys.executable, str(CHILD), mode, str(path), *map(str, args)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_saver(target, first, count) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), "save", str(target), str(first),
                             str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def assert_clean(target: Path) -> None:
    """Only ``target`` itself in its parent: no temporary, no old copy, no lock file."""
    assert sorted(os.listdir(target.parent)) == [target.name]


def test_exchange_works_here(tmp_path):
    """The kernel and filesystem of the test machine have RENAME_EXCHANGE, so the kill tests
    check the atomic path; the fallback is checked by pretending they do not."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").write_text("b")
    if not atomic_dir.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("no RENAME_EXCHANGE on this filesystem")
    assert (tmp_path / "a").read_text() == "b" and (tmp_path / "b").is_dir()


@pytest.mark.parametrize("fallback", FALLBACK)
def test_kill_at_every_step_keeps_old_or_new(tmp_path, fallback):
    out = run_child("kill-each", tmp_path, *(["--fallback"] if fallback else []))
    steps = int(out.split()[-1])
    assert steps >= 8, "the child did not pass through the save's steps"
    seen, vanished = set(), 0
    for kill_at in range(1, steps + 1):
        target = tmp_path / str(kill_at) / "model"
        vanished += not target.exists()
        seen.add(read_version(target))  # restores an interrupted fallback swap
        save(target, 3)
        assert read_version(target) == 3
        assert_clean(target)
    assert seen == {1, 2}
    # only the fallback has a moment without ``target`` (and the next read restores it)
    assert (vanished > 0) == fallback


@pytest.mark.parametrize("fallback", FALLBACK)
def test_kill_at_random_times_keeps_a_complete_version(tmp_path, fallback):
    trials = 12
    run_child("kill-random", tmp_path, trials, 11, "--nested",
              *(["--fallback"] if fallback else []))
    versions = []
    for trial in range(trials):
        target = tmp_path / str(trial) / "model"
        versions.append(read_version(target, nested=True))
        save(target, 0, nested=True)
        assert_clean(target)
    assert min(versions) >= 1


def test_two_writers_are_serialised_and_readers_see_whole_versions(tmp_path):
    target = tmp_path / "model"
    save(target, 0)
    writers = [start_saver(target, 1000, 15), start_saver(target, 2000, 15)]
    reads = set()
    while any(w.poll() is None for w in writers):
        reads.add(read_version(target))
    for writer in writers:
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert out.count("saved") == 15
    assert read_version(target) in {1014, 2014}
    assert reads <= {0} | set(range(1000, 1015)) | set(range(2000, 2015))
    assert_clean(target)


def test_a_held_lock_is_reported_in_one_sentence(tmp_path):
    target = tmp_path / "model"
    save(target, 1)
    with atomic_dir.locked(target.resolve()):
        with pytest.raises(ArtifactError, match="another process is saving it"):
            write_artifact(target, {"format": "routerrec-model"}, {}, lock_timeout=0.2)
    assert read_version(target) == 1
    assert_clean(target)


def test_stale_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "model"
    save(target, 1)
    for name in (".model.tmp-0123abcd", ".model.old-89abcdef"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "arrays.npz").write_bytes(b"x" * 1000)
    keep = [".model.tmp-notours", ".model2.tmp-0123abcd", "model.tmp-0123abcd"]
    for name in keep:
        (tmp_path / name).mkdir()
    save(target, 2)
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["model"])


def test_leftovers_of_earlier_routerrec_saves_are_restored_or_removed(tmp_path):
    """routerrec 0.1 left ``.NAME.XXXXXXXX`` temporaries and, killed between its two renames,
    no ``NAME`` but a complete ``.NAME.old-PID``."""
    target = tmp_path / "model"
    save(target, 1)
    os.rename(target, tmp_path / ".model.old-4242")
    (tmp_path / ".model.k3j2h1ab" / ".completion.abcdefgh").mkdir(parents=True)
    (tmp_path / ".model.k3j2h1ab" / "arrays.npz").write_bytes(b"partial")
    (tmp_path / ".model.settings").mkdir()
    (tmp_path / ".model.settings" / "notes.txt").write_text("user data")
    assert read_version(target) == 1
    save(target, 2)
    assert sorted(os.listdir(tmp_path)) == [".model.settings", "model"]


def test_a_missing_target_is_restored_from_an_interrupted_fallback_swap(tmp_path):
    target = tmp_path / "model"
    save(target, 1)
    os.rename(target, tmp_path / ".model.old-0123abcd")
    assert atomic_dir.restore_interrupted(target) is True
    assert read_version(target) == 1
    assert atomic_dir.restore_interrupted(target) is False
    assert_clean(target)


def test_targets_that_are_not_ours_are_refused_and_empty_ones_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    save(tmp_path / "empty", 1)
    assert read_version(tmp_path / "empty") == 1
    user = tmp_path / "user"
    user.mkdir()
    (user / "manifest.json").write_text(json.dumps({"name": "a web app"}))
    (tmp_path / "file").write_text("user data")
    for path in (user, tmp_path / "file"):
        with pytest.raises(ArtifactError, match="refusing to replace it"):
            check_target(path)
        with pytest.raises(ArtifactError, match="refusing to replace it"):
            save(path, 2)
    assert json.loads((user / "manifest.json").read_text()) == {"name": "a web app"}
    assert (tmp_path / "file").read_text() == "user data"
    assert sorted(os.listdir(tmp_path)) == ["empty", "file", "user"]


def test_non_finite_manifest_values_are_saved_as_null(tmp_path):
    manifest = {"format": "routerrec-model", "metrics": {"rmse": float("nan"),
                "auc": np.float32("inf"), "n": np.int64(3), "curve": np.array([1.0, -np.inf])}}
    write_artifact(tmp_path / "m", manifest, {"values": np.zeros(SIZE)})
    saved, _ = read_artifact(tmp_path / "m", fmt="routerrec-model", what="model")
    assert saved["metrics"] == {"rmse": None, "auc": None, "n": 3, "curve": [1.0, None]}


def test_a_manifest_that_is_not_json_fails_before_touching_the_disk(tmp_path):
    save(tmp_path / "m", 1)
    with pytest.raises(ArtifactError, match="manifest is not JSON"):
        write_artifact(tmp_path / "m", {"format": "routerrec-model", "bad": object()}, {})
    assert read_version(tmp_path / "m") == 1
    assert_clean(tmp_path / "m")


def test_object_arrays_are_never_written(tmp_path):
    with pytest.raises(ValueError, match="allow_pickle"):
        write_artifact(tmp_path / "m", {"format": "routerrec-model"},
                       {"values": np.array([{"a": 1}], dtype=object)})
    assert os.listdir(tmp_path) == []
