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
)


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
    def load(cls, source) -> Snapshot:
        """Read a snapshot from a path or file object. Never unpickles; malformed files raise ValueError."""
        try:
            with np.load(source, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            meta = json.loads(str(data.pop("meta")))
            loss, loss_steps = data.pop("loss"), data.pop("loss_steps")
            return cls(meta["toy"], meta["config"], int(meta["step"]), data, loss, loss_steps, meta.get("extras", {}))
        except MALFORMED as e:
            raise ValueError(f"not a snapshot file: {e}") from None
