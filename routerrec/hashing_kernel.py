"""Hashed word n-gram counts in numba: the same numbers as scikit-learn's HashingVectorizer.

scikit-learn tokenises with a Python regex per document, under the GIL: the floor of routing
long prompts. This kernel computes the very same counts in parallel over documents. A token
is a maximal run of >= 2 characters that ``re`` matches with ``\\w`` (``features._word_table``
asks ``re`` itself, so the definition cannot drift), in the text lower-cased by ``str.lower``;
its UTF-8 bytes are hashed by MurmurHash3 (x86, 32-bit, seed 0) to ``abs(h) % n_features``
(scikit-learn's rule for ``h == -2**31`` included); an n-gram is its tokens joined by one
space. Each document is independent, so the result does not depend on the thread count.
tests/test_features.py checks equality with HashingVectorizer.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["hash_counts"]

_M32 = 0xFFFFFFFF


@njit(cache=True, inline="always")
def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & _M32


@njit(cache=True)
def _murmur3(buf, a, b):
    """MurmurHash3_x86_32 of buf[a:b], seed 0, as a signed 32-bit int."""
    n = b - a
    h = np.int64(0)
    for i in range(n // 4):
        j = a + 4 * i
        k = (np.int64(buf[j]) | (np.int64(buf[j + 1]) << 8) | (np.int64(buf[j + 2]) << 16)
             | (np.int64(buf[j + 3]) << 24))
        k = _rotl((k * 0xCC9E2D51) & _M32, 15)
        h ^= (k * 0x1B873593) & _M32
        h = (_rotl(h, 13) * 5 + 0xE6546B64) & _M32
    t = a + (n // 4) * 4
    rem = n & 3
    if rem:
        k = np.int64(0)
        if rem >= 3:
            k ^= np.int64(buf[t + 2]) << 16
        if rem >= 2:
            k ^= np.int64(buf[t + 1]) << 8
        k ^= np.int64(buf[t])
        k = _rotl((k * 0xCC9E2D51) & _M32, 15)
        h ^= (k * 0x1B873593) & _M32
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h - (np.int64(1) << 32) if h >= (np.int64(1) << 31) else h


@njit(cache=True)
def _n_tokens(cps, a, b, word):
    count, run = 0, 0
    for i in range(a, b):
        if word[cps[i]]:
            run += 1
        else:
            count += run >= 2
            run = 0
    return count + (run >= 2)


@njit(cache=True, parallel=True)
def hash_counts(cps, starts, word, lookup, n_features, ngram_max):
    """CSR (indptr, columns, counts) of documents ``cps[starts[d]:starts[d + 1]]`` (code points).

    ``word[c]`` says whether code point c is a word character; ``lookup`` maps a hashed column
    to an output column (-1: dropped). Columns are sorted and unique within each row.
    """
    n_docs = len(starts) - 1
    ntok = np.zeros(n_docs, dtype=np.int64)
    for d in prange(n_docs):
        ntok[d] = _n_tokens(cps, starts[d], starts[d + 1], word)
    nfeat = np.zeros(n_docs + 1, dtype=np.int64)
    for d in range(n_docs):
        m = 0
        for n in range(1, ngram_max + 1):
            m += max(ntok[d] - n + 1, 0)
        nfeat[d + 1] = nfeat[d] + m
    cols = np.empty(nfeat[n_docs], dtype=np.int64)
    vals = np.empty(nfeat[n_docs], dtype=np.float32)
    nuniq = np.zeros(n_docs, dtype=np.int64)
    for d in prange(n_docs):
        a, b = starts[d], starts[d + 1]
        buf = np.empty(4 * (b - a) + ntok[d], dtype=np.uint8)
        bstart = np.empty(ntok[d], dtype=np.int64)
        bend = np.empty(ntok[d], dtype=np.int64)
        t, pos, i = 0, 0, a
        while i < b:  # UTF-8 bytes of the tokens, one space between tokens
            if not word[cps[i]]:
                i += 1
                continue
            j = i
            while j < b and word[cps[j]]:
                j += 1
            if j - i >= 2:
                bstart[t] = pos
                for q in range(i, j):
                    c = cps[q]
                    if c < 0x80:
                        buf[pos] = c
                        pos += 1
                    elif c < 0x800:
                        buf[pos] = 0xC0 | (c >> 6)
                        buf[pos + 1] = 0x80 | (c & 0x3F)
                        pos += 2
                    elif c < 0x10000:
                        buf[pos] = 0xE0 | (c >> 12)
                        buf[pos + 1] = 0x80 | ((c >> 6) & 0x3F)
                        buf[pos + 2] = 0x80 | (c & 0x3F)
                        pos += 3
                    else:
                        buf[pos] = 0xF0 | (c >> 18)
                        buf[pos + 1] = 0x80 | ((c >> 12) & 0x3F)
                        buf[pos + 2] = 0x80 | ((c >> 6) & 0x3F)
                        buf[pos + 3] = 0x80 | (c & 0x3F)
                        pos += 4
                bend[t] = pos
                buf[pos] = 0x20
                pos += 1
                t += 1
            i = j
        o = nfeat[d]
        m = 0
        for n in range(1, ngram_max + 1):
            for s in range(ntok[d] - n + 1):
                h = _murmur3(buf, bstart[s], bend[s + n - 1])
                if h == -2147483648:
                    col = lookup[(2147483647 - (n_features - 1)) % n_features]
                else:
                    col = lookup[abs(h) % n_features]
                if col >= 0:
                    cols[o + m] = col
                    m += 1
        seg = np.sort(cols[o:o + m])
        u = 0
        for k in range(m):  # run-length: sorted unique columns and their counts
            if u > 0 and seg[k] == cols[o + u - 1]:
                vals[o + u - 1] += 1
            else:
                cols[o + u] = seg[k]
                vals[o + u] = 1
                u += 1
        nuniq[d] = u
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    for d in range(n_docs):
        indptr[d + 1] = indptr[d] + nuniq[d]
    out_cols = np.empty(indptr[n_docs], dtype=np.int32)
    out_vals = np.empty(indptr[n_docs], dtype=np.float32)
    for d in prange(n_docs):
        o = nfeat[d]
        for k in range(nuniq[d]):
            out_cols[indptr[d] + k] = cols[o + k]
            out_vals[indptr[d] + k] = vals[o + k]
    return indptr, out_cols, out_vals
