"""Hashed word n-gram counts in numba: the same numbers as scikit-learn's HashingVectorizer.

scikit-learn tokenises with a Python regex per document, under the GIL: the floor of routing
long prompts. This kernel computes the very same counts in parallel over documents. A token
is a maximal run of >= 2 characters that ``re`` matches with ``\\w`` (``features._word_table``
asks ``re`` itself, so the definition cannot drift), in the text lower-cased by ``str.lower``;
its UTF-8 bytes are hashed by MurmurHash3 (x86, 32-bit, seed 0) to ``abs(h) % n_features``
(scikit-learn's rule for ``h == -2**31`` included); an n-gram is its tokens joined by one
space. Each document is independent, so the result does not depend on the thread count.
tests/test_features.py checks equality with HashingVectorizer.

``tfidf_values`` turns counts into the encoder's TF-IDF values in one pass (numpy's float32
steps, one call instead of five). ``hash_counts_serial`` is the same counting kernel compiled
without ``parallel=True``: a few prompts (a served request) count faster on the calling
thread than the parallel kernel's launch and numba's thread-count calls take. ``project_rows``
multiplies CSR rows by a dense matrix with scipy's arithmetic, without building a scipy
matrix (whose checks cost more than the product of one prompt). ``tfidf_rows`` is the rest
of the tfidf encoder's ``transform`` after the counts in one call, the numpy steps between
the kernels included with numpy's arithmetic (``l2_rows_numpy``): for a served prompt they
were a dozen numpy calls, each costing more than its arithmetic.
"""
from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

__all__ = ["hash_counts", "hash_counts_serial", "normalize_rows_l2", "tfidf_values",
           "project_rows", "l2_rows_numpy", "tfidf_rows"]

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


@njit(cache=True, inline="always")
def _char(data, i):
    """(code point, byte length) of the UTF-8 character at data[i] (surrogatepass input)."""
    c = np.int64(data[i])
    if c < 0x80:
        return c, 1
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if c < 0xF0:
        return (((c & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6)
                | (np.int64(data[i + 2]) & 0x3F)), 3
    return (((c & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)), 4


@njit(cache=True)
def _tokens(data, a, b, word, bstart, bend):
    """Number of tokens (runs of >= 2 word characters) in data[a:b]; with len(bstart) > 0,
    also their byte bounds."""
    count, run, i, first = 0, 0, a, a
    fill = len(bstart) > 0
    while i < b:
        c, width = _char(data, i)
        if word[c]:
            if run == 0:
                first = i
            run += 1
        else:
            if run >= 2:
                if fill:
                    bstart[count], bend[count] = first, i
                count += 1
            run = 0
        i += width
    if run >= 2:
        if fill:
            bstart[count], bend[count] = first, b
        count += 1
    return count


def _hash_counts(data, starts, word, lookup, n_features, ngram_max):
    """CSR (indptr, columns, counts) of documents ``data[starts[d]:starts[d + 1]]`` (UTF-8).

    ``word[c]`` says whether code point c is a word character; ``lookup`` maps a hashed column
    to an output column (-1: dropped). Columns are sorted and unique within each row.
    """
    n_docs = len(starts) - 1
    empty = np.empty(0, dtype=np.int64)
    ntok = np.zeros(n_docs, dtype=np.int64)
    for d in prange(n_docs):
        ntok[d] = _tokens(data, starts[d], starts[d + 1], word, empty, empty)
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
        bstart = np.empty(ntok[d], dtype=np.int64)
        bend = np.empty(ntok[d], dtype=np.int64)
        _tokens(data, starts[d], starts[d + 1], word, bstart, bend)
        buf = data
        if ngram_max > 1:  # an n-gram hashes its tokens joined by one space: copy them so
            buf = np.empty(starts[d + 1] - starts[d] + ntok[d], dtype=np.uint8)
            pos = 0
            for t in range(ntok[d]):
                w = bend[t] - bstart[t]
                buf[pos:pos + w] = data[bstart[t]:bend[t]]
                bstart[t], bend[t] = pos, pos + w
                buf[pos + w] = 0x20
                pos += w + 1
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


def _named(function, name: str):
    """A copy of ``function`` under another name: numba keys its on-disk cache by the
    function's name and code, not by ``parallel``, so two compilations of one function would
    load each other's machine code."""
    copy = types.FunctionType(function.__code__, function.__globals__, name)
    copy.__qualname__ = name
    return copy


hash_counts = njit(cache=True, parallel=True)(_hash_counts)
hash_counts_serial = njit(cache=True)(_named(_hash_counts, "hash_counts_serial"))


@njit(cache=True)
def project_rows(indptr, cols, vals, matrix, out):
    """``out += csr @ matrix`` for the CSR rows (indptr, cols, vals), accumulated in
    ``out``'s dtype in scipy's order (``csr_matvecs``: per row, per stored entry in order,
    ``out[i, :] += val * matrix[col, :]``), so the result is scipy's to the bit."""
    for i in range(len(indptr) - 1):
        for jj in range(indptr[i], indptr[i + 1]):
            row, a = cols[jj], vals[jj]
            for k in range(matrix.shape[1]):
                out[i, k] += a * matrix[row, k]
    return out


@njit(cache=True)
def normalize_rows_l2(data, indptr):
    """In place, the arithmetic of scikit-learn's ``normalize(csr, "l2")`` (float32 squares
    summed in float64, division in float64): identical values, without importing scikit-learn
    (about 2 s of a fresh routing process)."""
    for i in range(len(indptr) - 1):
        total = 0.0
        for j in range(indptr[i], indptr[i + 1]):
            total += data[j] * data[j]
        if total == 0.0:
            continue
        total = np.sqrt(total)
        for j in range(indptr[i], indptr[i + 1]):
            data[j] = data[j] / total


@njit(cache=True)
def tfidf_values(indptr, cols, logs, idf, out):
    """``out`` = numpy's ``(1.0 + logs) * idf[cols]`` (``logs``: the counts' float32 logs,
    so ``1 + log`` is a float32 sum), each CSR row then L2-normalised (``normalize_rows_l2``)."""
    for jj in range(len(cols)):
        out[jj] = (logs[jj] + np.float32(1.0)) * idf[cols[jj]]
    normalize_rows_l2(out, indptr)
    return out


@njit(cache=True)
def _block_sum(a, start, n):
    """numpy's float32 pairwise sum of a run of at most 128: eight accumulators."""
    if n < 8:
        total = np.float32(0.0)
        for i in range(n):
            total += a[start + i]
        return total
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    while i < n - n % 8:
        j = start + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += a[start + i]
        i += 1
    return total


@njit(cache=True)
def _pairwise_sum(a, n):
    """numpy's float32 ``add.reduce`` of ``a[:n]`` to the bit: its pairwise summation (runs of
    up to 128 by ``_block_sum``, a longer run the sum of its halves, split at a multiple of 8).
    The halving is walked with a stack, not recursion: numba's cache cannot load a recursive
    function."""
    # tasks: runs to sum, or (size -1) "add the top two sums"; each halving adds two tasks and
    # at most one pending sum, and runs halve at most 64 times
    starts, sizes = np.empty(130, np.int64), np.empty(130, np.int64)
    sums = np.empty(66, np.float32)
    starts[0], sizes[0] = 0, n
    tasks, values = 1, 0
    while tasks:
        tasks -= 1
        start, size = starts[tasks], sizes[tasks]
        if size < 0:
            values -= 1
            sums[values - 1] = sums[values - 1] + sums[values]
        elif size <= 128:
            sums[values] = _block_sum(a, start, size)
            values += 1
        else:
            half = size // 2
            half -= half % 8
            starts[tasks], sizes[tasks] = 0, -1
            starts[tasks + 1], sizes[tasks + 1] = start + half, size - half
            starts[tasks + 2], sizes[tasks + 2] = start, half
            tasks += 3
    return sums[0]


@njit(cache=True)
def l2_rows_numpy(z):
    """In place, ``encoders.base.l2_rows`` on float32 rows with numpy's arithmetic:
    ``z /= maximum(sqrt(add.reduce(z * z, axis=1)), 1e-12)`` (tests/routing/test_decide_fast.py
    compares them)."""
    squares = np.empty(z.shape[1], np.float32)
    floor = np.float32(1e-12)
    for i in range(z.shape[0]):
        for k in range(z.shape[1]):
            squares[k] = z[i, k] * z[i, k]
        norm = np.sqrt(np.float32(0.0) + _pairwise_sum(squares, z.shape[1]))
        if norm < floor:  # np.maximum's rule; a NaN norm stays NaN
            norm = floor
        for k in range(z.shape[1]):
            z[i, k] = z[i, k] / norm
    return z


@njit(cache=True)
def tfidf_rows(indptr, cols, counts, log_table, idf, components):
    """The tfidf encoder's features from CSR counts: sublinear TF-IDF, projection, rows
    scaled to unit length, the values of its step-by-step ``transform`` to the bit (float32
    ``idf`` and ``components``). ``log_table[k]`` is numpy's float32 log of k, for every
    count the rows hold."""
    logs = np.empty(len(counts), np.float32)
    for jj in range(len(counts)):
        logs[jj] = log_table[np.int64(counts[jj])]
    values = tfidf_values(indptr, cols, logs, idf, np.empty(len(logs), np.float32))
    out = np.zeros((len(indptr) - 1, components.shape[1]), np.float32)
    return l2_rows_numpy(project_rows(indptr, cols, values, components, out))
