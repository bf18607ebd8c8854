"""``routerrec data sample`` and ``routerrec data info``: make and inspect record files."""
from __future__ import annotations

from pathlib import Path

import click

from .options import SEED, emit, load_cli_records, records_options

__all__ = ["data"]


@click.group()
def data():
    """Inspect record files."""


@data.command("sample")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder to write (default: data/sample in the repository).")
@click.option("--seed", type=SEED, default=None, help="Random seed (default: the sample's own).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def data_sample(out, seed, as_json):
    """Regenerate the embedded synthetic sample (deterministic for a seed).

    \b
    Example:
      routerrec data sample                  # rewrites data/sample/ byte for byte
      routerrec data sample --out /tmp/sample --seed 7
    """
    from ..data import sample

    paths = sample.write(Path(out) if out else None, sample.SEED if seed is None else seed)
    emit({"files": [{"path": str(p), "bytes": p.stat().st_size} for p in paths]}, as_json,
         "\n".join(f"wrote {p} ({p.stat().st_size:,} bytes)" for p in paths))


@data.command("info")
@click.argument("path", required=False, type=click.Path())
@records_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def data_info(path, **kw):
    """Summarise a records file: sizes, density, score kind, benchmarks, costs.

    \b
    Example:
      routerrec data info ../shared/data/routerbench/mbpp_train.csv
      routerrec data info ../shared/data/openllm-v1/records.parquet --prompt-col item --score-col correct --json
    """
    as_json = kw.pop("as_json")
    if path:
        kw["data"] = (path, *kw["data"])
    records = load_cli_records(kw)
    info = records.info()
    lines = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, dict)]
    for k, v in info.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines += [f"  {kk}: {vv}" for kk, vv in v.items()]
    emit(info, as_json, "\n".join(lines))
