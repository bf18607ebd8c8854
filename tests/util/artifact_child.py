"""Saving numbered versions of artifact directories in processes that get killed.

    python artifact_child.py save TARGET FIRST COUNT [--fallback] [--nested]
        saves versions FIRST .. FIRST+COUNT-1 to TARGET, printing "saved V" after each
    python artifact_child.py kill-each PARENT [--fallback] [--nested]
        for k = 1, 2, ...: saves version 1 to PARENT/k/model, then forks a child that saves
        version 2 over it and SIGKILLs itself just before its kth step boundary; stops at
        the first k the child survives and prints "steps K-1"
    python artifact_child.py kill-random PARENT TRIALS SEED [--fallback] [--nested]
        for each trial: saves version 0 to PARENT/t/model, forks a child that saves versions
        1, 2, ... over it, and SIGKILLs it at a random moment after its first save

Every call that changes the disk during a save (mkdir, rename, exchange, fsync, unlink,
rmdir) is a step boundary. ``--fallback`` pretends the filesystem has no RENAME_EXCHANGE;
``--nested`` adds a sub-directory written by its own save, as a router's completion model
is. Forking from this small process is fast (no interpreter start per kill) and safe (it
runs no threads); the test process checks every directory afterwards.
"""
import argparse
import os
import random
import signal
import time
from pathlib import Path

import numpy as np

from routerrec.util import artifacts, atomic_dir

SIZE = 50_000  # values per array: large enough that a save takes a few milliseconds


def save(target, version: int, *, nested: bool = False) -> None:
    manifest = {"format": "routerrec-model", "version": version}

    def write_parts(tmp):
        artifacts.write_artifact(tmp / "completion", manifest, {"values": np.full(SIZE, -version)})

    artifacts.write_artifact(target, manifest, {"values": np.full(SIZE, float(version))},
                             write_parts=write_parts if nested else None)


def read_version(target, *, nested: bool = False) -> int:
    """The version saved in ``target``, after checking every file belongs to that version."""
    manifest, arrays = artifacts.read_artifact(target, fmt="routerrec-model", what="model")
    version = manifest["version"]
    np.testing.assert_array_equal(arrays["values"], np.full(SIZE, float(version)))
    if nested:
        sub, sub_arrays = artifacts.read_artifact(Path(target, "completion"),
                                                  fmt="routerrec-model", what="model")
        assert sub["version"] == version
        np.testing.assert_array_equal(sub_arrays["values"], np.full(SIZE, -version))
    return version


def kill_before_step(kill_at: int) -> None:
    """Make the process SIGKILL itself just before its ``kill_at``th disk-changing call."""
    passed = [0]

    def boundary(call):
        def wrapped(*args, **kwargs):
            passed[0] += 1
            if passed[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return call(*args, **kwargs)
        return wrapped

    for name in ("mkdir", "rename", "fsync", "unlink", "rmdir"):
        setattr(os, name, boundary(getattr(os, name)))
    atomic_dir.exchange = boundary(atomic_dir.exchange)


def forked(work) -> int:
    """Run ``work()`` in a forked child (exit status 0, or 1 on an exception); its pid."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            work()
            status = 0
        finally:
            os._exit(status)
    return pid


def exit_code(pid: int) -> int:
    """The child's exit code, or minus the signal that killed it."""
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def kill_each(parent: Path, nested: bool) -> None:
    for kill_at in range(1, 500):
        target = parent / str(kill_at) / "model"
        save(target, 1, nested=nested)
        pid = forked(lambda: (kill_before_step(kill_at), save(target, 2, nested=nested)))
        code = exit_code(pid)
        if code == 0:
            print(f"steps {kill_at - 1}")
            return
        assert code == -signal.SIGKILL, f"the save failed before step {kill_at}"
    raise AssertionError("the save never finished")


def kill_random(parent: Path, trials: int, seed: int, nested: bool) -> None:
    rng = random.Random(seed)
    for trial in range(trials):
        target = parent / str(trial) / "model"
        save(target, 0, nested=nested)
        ready_read, ready_write = os.pipe()

        def save_forever():
            save(target, 1, nested=nested)
            os.write(ready_write, b"1")
            for version in range(2, 10**6):
                save(target, version, nested=nested)

        pid = forked(save_forever)
        os.close(ready_write)
        assert os.read(ready_read, 1) == b"1", "the first save failed"
        os.close(ready_read)
        time.sleep(rng.uniform(0, 0.05))
        os.kill(pid, signal.SIGKILL)
        assert exit_code(pid) == -signal.SIGKILL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["save", "kill-each", "kill-random"])
    parser.add_argument("path", type=Path)
    parser.add_argument("numbers", type=int, nargs="*")
    parser.add_argument("--fallback", action="store_true")
    parser.add_argument("--nested", action="store_true")
    args = parser.parse_args()
    if args.fallback:
        atomic_dir.exchange = lambda a, b: False
    if args.mode == "kill-each":
        kill_each(args.path, args.nested)
    elif args.mode == "kill-random":
        kill_random(args.path, *args.numbers, nested=args.nested)
    else:
        first, count = args.numbers
        for version in range(first, first + count):
            save(args.path, version, nested=args.nested)
            print(f"saved {version}", flush=True)


if __name__ == "__main__":
    main()
