"""Builders for damaged and hostile artifact directories (npy headers, zips, manifests)."""
import io
import json
import zipfile
from pathlib import Path

import numpy as np

MANIFEST = {"format": "routerrec-model", "format_version": 1}


def npz_bytes(compressed: bool = False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """An npy member with the header text given verbatim (any dict, any claims)."""
    text = header.encode()
    size = len(text).to_bytes(2 if version[0] == 1 else 4, "little")
    return b"\x93NUMPY" + bytes(version) + size + text + data


def npy_header(descr, shape, fortran_order=False) -> str:
    header = repr({"descr": descr, "fortran_order": fortran_order, "shape": shape})
    return header + " " * (63 - len(header) % 64) + "\n"


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def claim_size(archive: bytes, size: int) -> bytes:
    """``archive`` (one member) with its uncompressed size in the central directory and
    the local header replaced by ``size``: a zip that lies about what it holds."""
    out = bytearray(archive)
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        at = out.find(signature)
        out[at + offset:at + offset + 4] = size.to_bytes(4, "little")
    return bytes(out)


def artifact_dir(path: Path, arrays: bytes, manifest=None) -> Path:
    """A model directory holding ``arrays`` as arrays.npz and ``manifest`` (a dict is
    written as JSON, bytes as they are)."""
    path.mkdir(parents=True, exist_ok=True)
    manifest = MANIFEST if manifest is None else manifest
    (path / "manifest.json").write_bytes(manifest if isinstance(manifest, bytes)
                                         else json.dumps(manifest).encode())
    (path / "arrays.npz").write_bytes(arrays)
    return path
