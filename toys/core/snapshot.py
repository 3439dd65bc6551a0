"""Snapshots: the plain numpy view of a trainer that analyses, charts and files see."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# what np.load, zipfile, zlib, json and the field reads raise on a truncated, corrupt or foreign file
MALFORMED = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    KeyError,
    ValueError,
    TypeError,
    OverflowError,
)
MAX_LOAD_BYTES = 512 * 2**20  # decompressed bytes a snapshot file may hold in all, by default
MAX_ARRAYS = 4096  # members of a snapshot file at most
MAX_STEP = 10**12


@dataclass(frozen=True)
class Snapshot:
    """Weights and loss history of a toy at one step, as numpy arrays.

    ``arrays`` holds the toy's named weights (for TMS: W (I, H, F) and b (I, F)); ``loss`` is (n_logged, I) with
    the step of every row in ``loss_steps``.
    """

    toy: str
    config: dict[str, Any]
    step: int
    arrays: dict[str, np.ndarray]
    loss: np.ndarray
    loss_steps: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def final_loss(self) -> np.ndarray:
        """Latest recorded loss per instance (NaN before the first record)."""
        if len(self.loss) == 0:
            return np.full(self.config.get("n_instances", 1), np.nan)
        return self.loss[-1]

    def to_npz_bytes(self) -> bytes:
        """Named arrays plus the config as JSON; loads back with ``allow_pickle=False``."""
        buf = io.BytesIO()
        meta = json.dumps({"toy": self.toy, "config": self.config, "step": self.step, "extras": self.extras})
        np.savez_compressed(buf, loss=self.loss, loss_steps=self.loss_steps, meta=np.array(meta), **self.arrays)
        return buf.getvalue()

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.to_npz_bytes())

    @classmethod
    def load(cls, source, max_bytes: int = MAX_LOAD_BYTES) -> Snapshot:
        """Read a snapshot from a path or file object. Never unpickles. Sizes are checked before anything is read:
        the archive's declared member sizes (at most ``max_bytes`` in all, which refuses a zip bomb at once), every
        array's declared shape and dtype against its member's size. A malformed, foreign or oversized file raises
        ValueError saying why."""
        try:
            with zipfile.ZipFile(source) as z:
                data = _read_members(z, max_bytes)
            meta = json.loads(str(data.pop("meta")))
            loss, loss_steps = data.pop("loss"), data.pop("loss_steps")
            if not isinstance(meta, dict) or not isinstance(meta.get("toy"), str):
                raise ValueError("its metadata names no toy")
            if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("extras", {}), dict):
                raise ValueError("its config and extras must be JSON objects")
            step = meta.get("step")
            if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
                raise ValueError(f"its step {step!r} is not an integer in [0, {MAX_STEP}]")
            return cls(meta["toy"], meta["config"], step, data, loss, loss_steps, meta.get("extras", {}))
        except MALFORMED as e:
            raise ValueError(f"not a snapshot file: {e}") from None


def _read_members(z: zipfile.ZipFile, max_bytes: int) -> dict[str, np.ndarray]:
    """Every ``name.npy`` member of an npz archive as an array, after checking the sizes the archive declares."""
    members = z.infolist()
    if len(members) > MAX_ARRAYS:
        raise ValueError(f"it holds {len(members)} members, more than {MAX_ARRAYS}")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise ValueError(f"it unpacks to {total:,} bytes, more than the {max_bytes:,} allowed")
    data = {}
    for m in members:
        if not m.filename.endswith(".npy"):
            raise ValueError(f"member {m.filename!r} is not an array")
        with z.open(m) as f:
            version = np.lib.format.read_magic(f)
            readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"array {m.filename!r} has npy format {version}, not 1.0 or 2.0")
            shape, _fortran, dtype = readers[version](f)
            if dtype.hasobject:
                raise ValueError(f"array {m.filename!r} holds Python objects")
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > m.file_size:
                raise ValueError(f"array {m.filename!r} declares {need:,} bytes but its member holds {m.file_size:,}")
        with z.open(m) as f:
            data[m.filename.removesuffix(".npy")] = np.lib.format.read_array(f, allow_pickle=False)
    return data


def names_diff(have: dict, want: dict) -> str:
    extra, missing = sorted(set(have) - set(want)), sorted(set(want) - set(have))
    return "; ".join(
        ([f"unexpected {', '.join(map(repr, extra[:5]))}"] if extra else [])
        + ([f"missing {', '.join(map(repr, missing[:5]))}"] if missing else [])
    )


def check_arrays(have: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """``have`` (a file's arrays) must carry exactly ``want``'s names, shapes and dtypes, and finite values."""
    if set(have) != set(want):
        raise ValueError(f"the file's arrays are not this config's: {names_diff(have, want)}")
    for name, w in want.items():
        a = have[name]
        if not isinstance(a, np.ndarray) or a.shape != w.shape or a.dtype != w.dtype:
            got = f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}"
            raise ValueError(f"array {name!r} is {got}; this config's model has {w.dtype} {w.shape}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"array {name!r} holds NaN or infinite values")
