"""Readers for the two file formats the course's data sets use: IDX (MNIST) and HDF5 (cats).

Every reader checks what it reads and raises ``MalformedFile`` naming the file and the
problem, rather than handing a learner a silently wrong array.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from dlcore.data.errors import MalformedFile

# IDX magic: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions.
IDX_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzip-compressed) IDX file of unsigned bytes: images ``(m, 28, 28)`` or
    labels ``(m,)``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise MalformedFile(f"{path}: not a readable gzip/IDX file ({exc})") from exc
    if len(raw) < 4:
        raise MalformedFile(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != IDX_UBYTE or ndim not in (1, 3):
        raise MalformedFile(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()}; expected 0x00000801 (labels) "
            "or 0x00000803 (images)"
        )
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise MalformedFile(f"{path}: IDX header truncated ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_end])
    expected = int(np.prod(shape))
    actual = len(raw) - header_end
    if actual != expected:
        raise MalformedFile(
            f"{path}: IDX header announces shape {shape} = {expected} bytes of data, "
            f"file holds {actual}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_end).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8, 1 or 3 dimensions) as a gzip-compressed IDX file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, IDX_UBYTE, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header)
        f.write(array.tobytes())


def read_h5_arrays(path: Path, keys: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Read datasets ``keys`` (name -> expected trailing shape) from an HDF5 file.

    ``keys`` maps a dataset name to the shape it must have, with ``None`` for a free
    dimension, e.g. ``{"train_set_x": (None, 64, 64, 3)}``.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            out = {}
            for key, shape in keys.items():
                if key not in f:
                    raise MalformedFile(
                        f"{path}: dataset {key!r} missing; found {sorted(f.keys())}"
                    )
                array = f[key][()]
                if array.ndim != len(shape) or any(
                    want is not None and want != got
                    for want, got in zip(shape, array.shape, strict=True)
                ):
                    raise MalformedFile(
                        f"{path}: dataset {key!r} has shape {array.shape}, expected "
                        f"{tuple('m' if s is None else s for s in shape)}"
                    )
                out[key] = array
            return out
    except OSError as exc:
        raise MalformedFile(f"{path}: not a readable HDF5 file ({exc})") from exc
