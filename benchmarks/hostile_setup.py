"""What ``bench_hostile.py``'s cases build: the fixtures (small records, a fitted model and
router, read by every case) and the setups that write or damage a case's own files."""
from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

FIX = Path(".")  # the fixtures folder, set by build_fixtures


# ---------------------------------------------------------------- fixtures

def build_fixtures(folder: Path) -> None:
    """Small records, a fitted ALS model and a fitted linear router under ``folder``."""
    import routerrec
    from routerrec.data.locations import SAMPLE_DIR

    global FIX
    FIX = folder
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"prompt": ["a", "a", "b", "b", "c", "c", "c"],
                  "model": ["x", "y", "x", "y", "x", "y", "z"],
                  "score": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
                  "cost": [0.1, 0.01, 0.1, 0.01, 0.1, 0.01, 0.5]}).write_csv(folder / "tiny.csv")
    rng = np.random.default_rng(0)
    grid = [(f"p{i}", f"m{j}") for i in range(30) for j in range(5)]
    pl.DataFrame({"prompt": [p for p, _ in grid], "model": [m for _, m in grid],
                  "score": rng.random(len(grid)).round(3)}).write_csv(folder / "cont.csv")
    texts = pl.read_parquet(SAMPLE_DIR / "prompts.parquet").gather_every(7).select("prompt", "text")
    small = pl.read_parquet(SAMPLE_DIR / "records.parquet").join(texts, on="prompt")
    small.write_parquet(folder / "small.parquet")
    small.drop("cost").write_csv(folder / "nocost.csv")
    records = routerrec.load_records(folder / "small.parquet")
    routerrec.fit(records, method="als", rank=2, iterations=2).save(folder / "model")
    routerrec.make_router("linear").fit(records).save(folder / "router")


# ---------------------------------------------------------------- helpers for setups

def write(name: str, data) -> Callable[[Path], None]:
    """A setup writing ``data`` (bytes or str) to ``name``."""
    def setup(folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def frame(name: str, **columns) -> Callable[[Path], None]:
    """A setup writing a table (CSV or Parquet by suffix)."""
    def setup(folder: Path) -> None:
        df = pl.DataFrame(columns)
        if name.endswith(".parquet"):
            df.write_parquet(folder / name)
        else:
            df.write_csv(folder / name)
    return setup


def both(*setups) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for s in setups:
            s(folder)
    return setup


def copy_of(kind: str, damage: Callable[[Path], None] | None = None, name: str = "d"):
    """A setup copying the fixture ``kind`` ("model"/"router") to ``name``, then damaging it."""
    def setup(folder: Path) -> None:
        shutil.copytree(FIX / kind, folder / name)
        if damage is not None:
            damage(folder / name)
    return setup


def truncate(d: Path) -> None:
    data = (d / "arrays.npz").read_bytes()
    (d / "arrays.npz").write_bytes(data[: len(data) // 2])


def bit_flip(d: Path) -> None:
    data = bytearray((d / "arrays.npz").read_bytes())
    for at in range(len(data) // 3, len(data) // 3 + 64, 7):
        data[at] ^= 0x5A
    (d / "arrays.npz").write_bytes(bytes(data))


def fifo(d: Path) -> None:
    (d / "arrays.npz").unlink()
    os.mkfifo(d / "arrays.npz")


def npy_bytes(descr: str, shape: tuple, body: bytes = b"") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape})
    header += " " * (63 - len(header) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + body


def huge_header(d: Path) -> None:
    """One member claims a 1e6 x 1e5 float64 array (745 GiB) and holds 8 bytes."""
    buffer = io.BytesIO()
    with np.load(d / "arrays.npz") as saved, zipfile.ZipFile(buffer, "w") as out:
        for key in saved.files:
            out.writestr(f"{key}.npy", npy_bytes("<f8", (1_000_000, 100_000), b"\0" * 8)
                         if key == saved.files[0] else npy_of(saved[key]))
    (d / "arrays.npz").write_bytes(buffer.getvalue())


def lying_zip(d: Path) -> None:
    """A member whose zip headers claim 3 GB uncompressed (a bomb's claim)."""
    data = bytearray((d / "arrays.npz").read_bytes())
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = data.find(signature)
        data[at + offset:at + offset + 4] = (3_000_000_000).to_bytes(4, "little")
    (d / "arrays.npz").write_bytes(bytes(data))


def npy_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def edit_arrays(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        with np.load(d / "arrays.npz") as saved:
            arrays = dict(saved)
        change(arrays)
        np.savez(d / "arrays.npz", **arrays)
    return damage


def edit_manifest(change: Callable[[dict], None] | None = None, text: str | None = None):
    def damage(d: Path) -> None:
        if text is not None:
            (d / "manifest.json").write_text(text)
            return
        manifest = json.loads((d / "manifest.json").read_text())
        change(manifest)
        (d / "manifest.json").write_text(json.dumps(manifest))  # NaN stays NaN (allow_nan)
    return damage


def nan_first(key: str) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        arrays[key].reshape(-1)[0] = np.nan
    return change


def set_field(path: tuple, value) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def foreign_dir(folder: Path) -> None:
    (folder / "mine").mkdir()
    (folder / "mine" / "notes.txt").write_text("keep me")


def webapp_dir(folder: Path) -> None:
    (folder / "app").mkdir()
    (folder / "app" / "manifest.json").write_text('{"name": "my web app"}')


def csv_file(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return write(name, text.encode(encoding))


def parquet_list_ids(folder: Path) -> None:
    pl.DataFrame({"prompt": [["a"], ["b"]], "model": ["x", "y"], "score": [1.0, 0.0]}) \
        .write_parquet(folder / "r.parquet")


def truncated_parquet(folder: Path) -> None:
    pl.DataFrame({"prompt": ["a", "b"] * 50, "model": ["x"] * 100, "score": [1.0] * 100}) \
        .write_parquet(folder / "r.parquet")
    data = (folder / "r.parquet").read_bytes()
    (folder / "r.parquet").write_bytes(data[: len(data) * 2 // 3])
