"""The real record sets shared beside the project: Open LLM Leaderboard v1, MMLU-Pro, RouterBench.

They live in ``<repo>/../shared/data`` (:data:`~routerrec.data.locations.SHARED_DATA_DIR`),
or wherever ``$ROUTERREC_SHARED_DATA`` points; :func:`shared_data_dir` says whether they are
there, so examples, benchmarks and tests can skip politely.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

import polars as pl

from .load import load_records, records_from_frame
from .locations import SHARED_DATA_DIR
from .records import Records, RecordsError

__all__ = ["shared_data_dir", "load_openllm", "load_mmlu_pro", "load_routerbench"]

PathLike = Union[str, "os.PathLike[str]"]


def shared_data_dir(name: Optional[str] = None) -> Optional[Path]:
    """Directory of the shared real data sets (or of the one data set ``name`` in it), or
    ``None`` when absent, so examples, benchmarks and tests can skip politely.

    Resolves ``<repo root>/../shared/data`` from this package's location. The
    environment variable ``ROUTERREC_SHARED_DATA`` overrides it (a path that is
    not a directory gives ``None``, which makes the data-dependent tests skip).
    """
    env = os.environ.get("ROUTERREC_SHARED_DATA")
    p = Path(env).expanduser() if env else SHARED_DATA_DIR
    if name is not None:
        p = p / name
    return p if p.is_dir() else None


def _shared_subdir(dir: Optional[PathLike], name: str) -> Path:
    if dir is not None:
        d = Path(dir)
    else:
        root = shared_data_dir()
        if root is None:
            raise RecordsError(
                "shared data directory not found: pass dir=... or set ROUTERREC_SHARED_DATA",
                path=f"../shared/data/{name}",
            )
        d = root / name
    if not d.is_dir():
        raise RecordsError("directory does not exist", path=d)
    return d


def load_openllm(dir: Optional[PathLike] = None) -> Records:
    """Open LLM Leaderboard v1 item-level correctness, with few-shot prompt texts.

    Reads ``<dir>/records.parquet`` (model, item, correct, benchmark) and
    ``<dir>/items.parquet`` (item, benchmark, prompt text). ``dir`` defaults to
    ``shared_data_dir() / "openllm-v1"``. No costs (``models.csv`` has
    parameter counts as a possible proxy).
    """
    d = _shared_subdir(dir, "openllm-v1")
    rec = load_records(d / "records.parquet", prompt="item", score="correct", benchmark="benchmark")
    items = d / "items.parquet"
    if items.exists():
        t = pl.read_parquet(items, columns=["item", "prompt"]).rename({"item": "prompt", "prompt": "text"})
        rec = rec.with_texts(t)
    return rec


def _mmlu_pro_text(question: Optional[str], options: Optional[str]) -> Optional[str]:
    if question is None:
        return None
    try:
        opts = json.loads(options) if options else []
    except ValueError:
        return f"{question}\n{options}"
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lines = [f"{letters[i] if i < 26 else i}. {o}" for i, o in enumerate(opts)]
    return "\n".join([question, *lines])


def load_mmlu_pro(dir: Optional[PathLike] = None, *, cost_proxy: bool = False) -> Records:
    """MMLU-Pro official 5-shot CoT outputs of 29 models, with question texts.

    Prompt id = ``question_id`` (as text), benchmark = the question's
    ``category``, text = question followed by lettered options. No costs by
    default; ``cost_proxy=True`` uses ``output_chars`` (length of the model's
    answer) as the cost column -- a proxy, not USD.
    """
    d = _shared_subdir(dir, "mmlu-pro")
    rp, qp = d / "records.parquet", d / "questions.parquet"
    for f in (rp, qp):
        if not f.exists():
            raise RecordsError("file does not exist", path=f)
    q = pl.read_parquet(qp, columns=["question_id", "question", "options", "category"])
    df = pl.read_parquet(rp).join(q.select("question_id", "category"), on="question_id", how="left")
    rec = records_from_frame(
        df,
        prompt="question_id",
        score="correct",
        cost="output_chars" if cost_proxy else None,
        benchmark="category",
        source=str(rp),
    )
    texts = pl.DataFrame(
        {
            "prompt": q.get_column("question_id").cast(pl.String),
            "text": [_mmlu_pro_text(a, b) for a, b in zip(q.get_column("question"), q.get_column("options"))],
        },
        schema={"prompt": pl.String, "text": pl.String},
    )
    return rec.with_texts(texts)


def load_routerbench(dir: Optional[PathLike] = None, split: str = "train") -> Records:
    """RouterBench 0-shot records (wide CSVs of RouterDC's split), with real USD costs and texts.

    ``split`` is ``"train"``, ``"test"`` or ``"all"``; reads every
    ``*_<split>.csv`` in ``dir`` (default ``shared_data_dir() / "routerbench"``).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    d = _shared_subdir(dir, "routerbench")
    splits = ("train", "test") if split == "all" else (split,)
    files = sorted(f for s in splits for f in d.glob(f"*_{s}.csv"))
    if not files:
        raise RecordsError(f"no *_{split}.csv files", path=d)
    return load_records(files, format="routerbench")
