"""Reading ``np.savez`` archives that may be truncated, corrupt or hostile, in bounded memory.

Everything that decides how much is allocated is checked before any array is read: the
zip's central directory (size and number of members), each member's claimed size against
the byte limit (``routerrec.util.limits``), each npy header (dtype without pickled objects,
shape consistent with the bytes the zip says the member holds) and the shapes the caller
expects. Reading then fills arrays of exactly those sizes, and the zip's CRC catches bit
flips.
"""
from __future__ import annotations

import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Mapping

import numpy as np
from numpy.lib import format as npy

from .limits import MAX_BYTES_ENV, format_bytes, max_array_bytes

__all__ = ["MAX_MEMBERS", "read_npz"]

MAX_MEMBERS = 1024
_MAX_DIRECTORY_BYTES = 1 << 20
_CHUNK = 1 << 24

_END = struct.Struct("<4s4H2LH")             # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}


class _Refused(Exception):
    """A reason to refuse the archive; the caller turns it into its own error class."""


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    header_bytes: int
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool


def read_npz(fh: BinaryIO, path, *, error: type[Exception],
             expect: Mapping[str, tuple] | None = None) -> dict[str, np.ndarray]:
    """The arrays in ``fh`` (an ``np.savez`` file), or ``error`` naming ``path`` and the reason.

    ``expect`` maps an array name to its expected shape; a dimension may be ``None`` (any)
    or a string (the same unknown size everywhere it appears, e.g. ``"rank"``).
    """
    limit = max_array_bytes()
    try:
        _check_central_directory(fh)
        with zipfile.ZipFile(fh) as archive:
            members = _plan(archive, limit)
            _check_expected(members, expect or {})
            return {name: _read_member(archive, m) for name, m in members.items()}
    except _Refused as exc:
        raise error(f"{path}: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
            NotImplementedError, RuntimeError) as exc:
        raise error(f"{path}: corrupt array file ({type(exc).__name__}: {exc})") from None


def _check_central_directory(fh: BinaryIO) -> None:
    """Refuse a central directory too large to parse cheaply, before zipfile parses it."""
    end = fh.seek(0, 2)
    tail_at = max(0, end - _END.size - 0xFFFF)
    fh.seek(tail_at)
    tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        return  # no end record: zipfile reports the archive as corrupt
    entries, size = _END.unpack_from(tail, at)[4:6]
    locator_at = tail_at + at - _ZIP64_LOCATOR.size
    if locator_at >= 0:
        fh.seek(locator_at)
        locator = fh.read(_ZIP64_LOCATOR.size)
        if len(locator) == _ZIP64_LOCATOR.size and locator.startswith(b"PK\x06\x07"):
            fh.seek(_ZIP64_LOCATOR.unpack(locator)[2])
            record = fh.read(_ZIP64_END.size)
            if len(record) == _ZIP64_END.size and record.startswith(b"PK\x06\x06"):
                entries, size = _ZIP64_END.unpack(record)[7:9]
    if entries > MAX_MEMBERS or size > _MAX_DIRECTORY_BYTES:
        raise _Refused(f"the archive lists {entries} members in {format_bytes(size)}; "
                       f"routerrec writes a handful (at most {MAX_MEMBERS})")


def _plan(archive: zipfile.ZipFile, limit: int) -> dict[str, _Member]:
    """Every member's dtype and shape, checked against the limit and the zip's sizes."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > limit:
        raise _Refused(f"the arrays would take {format_bytes(total)}, above the limit of "
                       f"{format_bytes(limit)} (raise it with {MAX_BYTES_ENV})")
    members = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in members:
            raise _Refused(f"unexpected member {info.filename!r} (not a unique .npy array)")
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED,
                                                                zipfile.ZIP_DEFLATED):
            raise _Refused(f"member {info.filename!r} is encrypted or compressed with "
                           f"method {info.compress_type}; np.savez writes neither")
        members[name] = _read_header(archive, info, limit)
    return members


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> _Member:
    with archive.open(info) as fp:
        try:
            version = npy.read_magic(fp)
            reader = _READERS.get(version)
            if reader is None:
                raise _Refused(f"{info.filename}: npy format version {version} is not read")
            shape, fortran_order, dtype = reader(fp)
        except Exception as exc:  # numpy parses the untrusted header text with tokenize and
            # literal_eval, whose failures have no common base class
            raise _Refused(f"{info.filename}: bad npy header ({type(exc).__name__}: {exc})"
                           ) from None
        header_bytes = fp.tell()
    if dtype.hasobject:
        raise _Refused(f"{info.filename}: holds Python objects (dtype {dtype}); "
                       "routerrec never loads pickled data")
    if dtype.itemsize == 0 or any(not 0 <= dim <= limit for dim in shape):
        raise _Refused(f"{info.filename}: implausible array {shape} of {dtype}")
    nbytes = math.prod(shape) * dtype.itemsize
    if header_bytes + nbytes != info.file_size:
        raise _Refused(f"{info.filename}: header says {shape} of {dtype} "
                       f"({format_bytes(nbytes)}) but the archive holds "
                       f"{format_bytes(max(info.file_size - header_bytes, 0))}")
    return _Member(info, header_bytes, shape, dtype, fortran_order)


def _check_expected(members: Mapping[str, _Member], expect: Mapping[str, tuple]) -> None:
    sizes: dict[str, int] = {}
    for name, want in expect.items():
        if name not in members:
            raise _Refused(f"array {name!r} is missing")
        shape = members[name].shape
        fits = len(shape) == len(want) and all(
            dim is None or got == (sizes.setdefault(dim, got) if isinstance(dim, str) else dim)
            for got, dim in zip(shape, want))
        if not fits:
            raise _Refused(f"array {name!r} has shape {shape}; the manifest implies "
                           f"{tuple(want)}")


def _read_member(archive: zipfile.ZipFile, member: _Member) -> np.ndarray:
    """Read exactly the bytes the header promised into one preallocated buffer."""
    nbytes = member.info.file_size - member.header_bytes
    data = np.empty(nbytes, dtype=np.uint8)
    with archive.open(member.info) as fp:
        fp.read(member.header_bytes)
        filled = 0
        while filled < nbytes:
            chunk = fp.read(min(_CHUNK, nbytes - filled))
            if not chunk:
                raise _Refused(f"{member.info.filename}: truncated")
            data[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            filled += len(chunk)
    flat = data.view(member.dtype)
    if member.fortran_order:
        return flat.reshape(member.shape[::-1]).transpose()
    return flat.reshape(member.shape)
