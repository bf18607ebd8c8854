"""Bring your own prompt embeddings to a router, three ways:

1. a Python function ``texts -> (n, d) array`` passed where an encoder name goes;
2. a vectors file (Parquet: a ``prompt`` id or ``text`` column and an ``embedding`` list
   column), also on the command line as ``routerrec fit --router knn --embeddings FILE``;
3. ``encoder="sentence-transformers"`` with weights already on disk (optional package).

Runs offline on the embedded sample; the "embedding model" here is routerrec's own hashed
word counts, so that nothing is downloaded. Put your model's ``encode`` in its place.

Run from the repository root:  .venv/bin/python examples/own_embeddings.py
"""
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

import routerrec
from routerrec.routing.encoders import hashed_counts
from routerrec.routing.registry import load_router, make_router


def embed(texts):
    """Stand-in for e.g. SentenceTransformer(path).encode: 256 hashed word counts a text."""
    return hashed_counts(texts, n_features=256).toarray()


train, test = routerrec.load_sample().split_prompts(0.2, seed=0)
texts = test.text_of(test.prompts)
out = Path(tempfile.mkdtemp())

# 1. a function: saved routers record its name, not its code
router = make_router("knn", encoder=embed).fit(train)
router.save(out / "knn-fn")
try:
    load_router(out / "knn-fn")
except ValueError as exc:
    print(f"loading without the function is refused:\n  {exc}")
again = load_router(out / "knn-fn", encoder=embed)
print(f"reloaded with encoder=embed: same picks: {again.route(texts) == router.route(texts)}")

# 2. a file of vectors keyed by prompt text (a 'prompt' column would key them by id)
unique = list(dict.fromkeys(train.text_of(train.prompts)))
pl.DataFrame({"text": unique, "embedding": embed(unique).tolist()}).write_parquet(out / "v.parquet")
by_file = make_router("knn", encoder="precomputed",
                      encoder_params={"path": str(out / "v.parquet")}).fit(train)
try:
    by_file.route(texts[:3])
except KeyError as exc:
    print(f"new prompts need their vectors:\n  {exc.args[0][:110]}...")
fresh = list(dict.fromkeys(texts))
pl.DataFrame({"text": fresh, "embedding": embed(fresh).tolist()}).write_parquet(out / "new.parquet")
by_file.encoder_ = by_file.encoder_.add_vectors(out / "new.parquet")  # route --embeddings FILE
agree = np.mean([a == b for a, b in zip(by_file.route(texts), router.route(texts))])
print(f"vectors from a file route like the function: {agree:.0%} of picks agree")

# 3. sentence-transformers, when installed and its weights are on disk
try:
    make_router("knn", encoder="sentence-transformers",
                encoder_params={"model": "all-MiniLM-L6-v2"}).fit(train)
    print("sentence-transformers: fitted with local weights")
except ValueError as exc:
    print(f"sentence-transformers is optional:\n  {exc}")
