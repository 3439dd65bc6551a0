"""Saved models: a trained model as a safetensors file of its arrays and a JSON file of its config, and back.

``save_model(snap, path)`` writes ``path`` (``.safetensors``: every array of the snapshot, plus its loss log as
``_loss`` and ``_loss_steps``) and the same name with ``.json`` (format, toy, page, step, config). ``load_model(path)``
reads such a pair back into the toy's trainer, at the saved step, and returns that trainer's snapshot;
``load_trainer(path)`` returns the trainer itself, ready to train on.

Nothing is unpickled, and a file is measured before it is read: its size against ``max_bytes``, the safetensors
header's length, dtypes, shapes and data offsets against the file's size. What a file holds is then checked against
what its config implies: a trainer is built for the config (``MODELS``: each toy registers its config and trainer),
and the file's array names, shapes and dtypes must be that trainer's, every value finite, the loss log the one its
step implies (``StepTrainer.load_snapshot``); arrays that follow from the weights and the config (an embedding from
the seed, folded weights) must equal the loaded trainer's own. Anything else raises ``ValueError`` saying why.

Optimizer state is not saved: a loaded model trains on with fresh Adam moments and a fresh data stream.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from toys.core.composite import Pair, PairTrainer
from toys.core.snapshot import Snapshot, names_diff

FORMAT = "superposition-playground/model"
VERSION = 1
LOSS, LOSS_STEPS = "_loss", "_loss_steps"  # the snapshot's own loss log, beside its arrays
MAX_MODEL_BYTES = 64 * 2**20  # a weights file may be at most this large, by default
MAX_HEADER_BYTES = 2**20
MAX_CONFIG_BYTES = 2**20
MAX_TENSORS = 4096
DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}
SUFFIX, CONFIG_SUFFIX = ".safetensors", ".json"
# the config values a file name carries, per toy: (letter, field)
NAME_FIELDS = {
    "tms": (("f", "n_features"), ("h", "n_hidden"), ("i", "n_instances")),
    "phase": (("f", "n_features"), ("h", "n_hidden"), ("r", "n_importance"), ("p", "n_density")),
    "abs": (("f", "n_features"), ("h", "n_hidden"), ("i", "n_instances")),
    "cc": (("f", "n_features"), ("h", "d_mlp"), ("i", "n_instances")),
    "uand": (("m", "n_inputs"), ("d", "d_max"), ("i", "n_instances")),
    "circuit_pipeline": (("t", "n_circuits"), ("n", "n_neurons"), ("l", "tc_n_latents")),
}


@dataclass(frozen=True)
class Toy:
    """How to rebuild a saved toy: its config class (``from_dict``) and its trainer (``make(cfg)``)."""

    config: type
    make: Callable[[Any], Any]


MODELS: dict[str, Toy] = {}


def register(toy: str, config: type, make: Callable[[Any], Any]) -> None:
    """Make ``toy``'s saved models loadable (each family registers its own toys)."""
    MODELS[toy] = Toy(config, make)


def parse_config(toy: str, config: dict[str, Any]) -> Any:
    """The config object of a saved ``toy`` (a ``Pair`` for a config of two variants ``a`` and ``b``)."""
    if toy not in MODELS:
        raise ValueError(f"toy {toy!r} is not one this library saves: {', '.join(sorted(MODELS))}")
    cls = MODELS[toy].config
    if set(config) == {"a", "b"} and all(isinstance(v, dict) for v in config.values()):
        return Pair(cls.from_dict(config["a"]), cls.from_dict(config["b"]))
    return cls.from_dict(config)


def make_trainer(toy: str, cfg: Any) -> Any:
    make = MODELS[toy].make
    return PairTrainer(cfg, make) if isinstance(cfg, Pair) else make(cfg)


# ------------------------------------------------------------------------------------------------ writing


def model_name(snap: Snapshot, prefix: str = "") -> str:
    """A file name (without suffix) carrying the toy, its key config values and the step:
    ``superposition_tms_f5_h2_i4_step3000`` for prefix "superposition"; ``_pair`` for two variants."""
    cfg = snap.config
    pair = set(cfg) == {"a", "b"}
    one = cfg["a"] if pair else cfg
    values = [f"{letter}{one[name]}" for letter, name in NAME_FIELDS.get(snap.toy, ()) if name in one]
    parts = [prefix, snap.toy, *values, "pair" if pair else "", f"step{snap.step}"]
    return "_".join(p for p in parts if p)


def weights_bytes(snap: Snapshot) -> bytes:
    """The snapshot's arrays and loss log as safetensors (little-endian, C order)."""
    arrays = {**snap.arrays, LOSS: snap.loss, LOSS_STEPS: snap.loss_steps}
    for name in arrays:
        if name.startswith("__"):
            raise ValueError(f"array name {name!r} is reserved by safetensors")
    tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return safetensors.numpy.save(tensors, metadata={"format": FORMAT, "toy": snap.toy, "step": str(snap.step)})


def config_json(snap: Snapshot, page: str | None = None) -> str:
    """The JSON that goes with the weights: format, toy, the page it was saved from (None outside the app), step
    and the flat config."""
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "toy": snap.toy,
        "page": page,
        "step": int(snap.step),
        "config": snap.config,
    }
    return json.dumps(meta, indent=2)


def config_path(path: str | os.PathLike) -> Path:
    """The JSON file that goes with a weights file: the same name with ``.json``."""
    path = Path(path)
    return path.with_suffix(CONFIG_SUFFIX) if path.suffix == SUFFIX else path.with_name(path.name + CONFIG_SUFFIX)


def save_model(snap: Snapshot, path: str | os.PathLike, page: str | None = None) -> tuple[Path, Path]:
    """Write ``path`` (safetensors weights; ``.safetensors`` is added if missing) and its ``.json`` config.
    Returns both paths."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    cpath = config_path(path)
    path.write_bytes(weights_bytes(snap))
    cpath.write_text(config_json(snap, page))
    return path, cpath


# ------------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class SavedModel:
    """A pair of files read and checked for form (not yet against a trainer): the page it was saved from (None
    from a notebook) and its snapshot."""

    page: str | None
    snapshot: Snapshot


def _size(source) -> int:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    size = getattr(source, "size", None)  # Streamlit's UploadedFile
    if isinstance(size, int):
        return size
    pos = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(pos)
    return end - pos


def _read(source, n: int, offset: int = 0) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[offset : offset + n])
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            f.seek(offset)
            return f.read(n)
    source.seek(offset)
    return source.read(n)


def _header(source, size: int) -> tuple[dict[str, Any], int]:
    """The safetensors header (checked against the file's size) and where the data starts."""
    if size < 8:
        raise ValueError(f"it holds {size} bytes, too few for a safetensors file")
    (n,) = struct.unpack("<Q", _read(source, 8))
    if n > min(MAX_HEADER_BYTES, size - 8):
        raise ValueError(
            f"its first 8 bytes declare a {n:,}-byte header in a {size:,}-byte file: not a safetensors file "
            "(a pickle, an .npz or a truncated file?)"
        )
    raw = _read(source, n, 8)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("its header is not JSON: not a safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object: not a safetensors file")
    return header, 8 + n


def _check_header(header: dict[str, Any], data_bytes: int) -> dict[str, str]:
    """Every tensor's dtype, shape and offsets against the data the file holds; returns the metadata."""
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("its metadata is not a map of strings")
    if len(header) > MAX_TENSORS:
        raise ValueError(f"it holds {len(header)} tensors, more than {MAX_TENSORS}")
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"tensor {name!r} has a malformed header entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ValueError(f"tensor {name!r} has a malformed shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise ValueError(f"tensor {name!r} has malformed data offsets {offsets!r}")
        begin, end = offsets
        need = int(np.prod(shape, dtype=object)) * np.dtype(DTYPES[dtype]).itemsize
        if not 0 <= begin <= end <= data_bytes or end - begin != need:
            raise ValueError(
                f"tensor {name!r} declares shape {shape} of {dtype} ({need:,} bytes) at bytes {begin}..{end}, "
                f"but the file holds {data_bytes:,} bytes of data (truncated or altered?)"
            )
        spans.append((begin, end))
    spans.sort()
    covered = 0
    for begin, end in spans:
        if begin != covered:
            raise ValueError("its tensors overlap or leave gaps in the data (altered file?)")
        covered = end
    if covered != data_bytes:
        raise ValueError(f"its tensors cover {covered:,} of {data_bytes:,} bytes of data (altered file?)")
    return meta


def read_weights(source, max_bytes: int = MAX_MODEL_BYTES) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata of a safetensors file (path, bytes or file object), after checking its size and
    header; every float finite. ValueError says what is wrong."""
    size = _size(source)
    if size > max_bytes:
        raise ValueError(f"it is {size / 2**20:,.1f} MB, more than the {max_bytes / 2**20:,.0f} MB a model may be")
    header, start = _header(source, size)
    meta = _check_header(header, size - start)
    try:
        arrays = safetensors.numpy.load(_read(source, size))
    except (safetensors.SafetensorError, ValueError) as e:
        raise ValueError(f"not a readable safetensors file: {e}") from None
    for name, a in arrays.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"tensor {name!r} holds NaN or infinite values")
    return arrays, meta


def read_config(source) -> dict[str, Any]:
    """The JSON config file (path, str, bytes or file object), checked for form."""
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and source.lstrip().startswith("{")):
        size = os.path.getsize(source)
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"the config file is {size:,} bytes, more than {MAX_CONFIG_BYTES:,}")
        raw = Path(source).read_bytes()
    elif isinstance(source, str):
        raw = source.encode()
    elif isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    else:
        if _size(source) > MAX_CONFIG_BYTES:
            raise ValueError(f"the config file is more than {MAX_CONFIG_BYTES:,} bytes")
        raw = source.read()
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(f"the config file is {len(raw):,} bytes, more than {MAX_CONFIG_BYTES:,}")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("the config file is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"the config file is not a saved model's config (its format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"the config file has version {meta.get('version')!r}; this app reads version {VERSION}")
    if not isinstance(meta.get("toy"), str) or not isinstance(meta.get("config"), dict):
        raise ValueError("the config file names no toy or holds no config")
    if meta.get("page") is not None and not isinstance(meta["page"], str):
        raise ValueError("the config file's page is not a string")
    step = meta.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"the config file's step {step!r} is not a non-negative integer")
    return meta


def read_model(weights, config, max_bytes: int = MAX_MODEL_BYTES) -> SavedModel:
    """A weights file and its config file (paths, bytes or file objects) as a ``SavedModel``, checked for form
    and for belonging together; not yet against the toy's trainer (``restore`` does that)."""
    meta = read_config(config)
    arrays, wmeta = read_weights(weights, max_bytes)
    if wmeta.get("format") != FORMAT:
        raise ValueError("the weights file was not saved by this library (no format in its metadata)")
    if wmeta.get("toy") != meta["toy"] or wmeta.get("step") != str(meta["step"]):
        raise ValueError(
            f"the weights (toy {wmeta.get('toy')!r}, step {wmeta.get('step')}) and the config (toy {meta['toy']!r}, "
            f"step {meta['step']}) are not from the same save"
        )
    if LOSS not in arrays or LOSS_STEPS not in arrays:
        raise ValueError(f"the weights file lacks the loss log ({LOSS}, {LOSS_STEPS})")
    loss, loss_steps = arrays.pop(LOSS), arrays.pop(LOSS_STEPS)
    snap = Snapshot(meta["toy"], meta["config"], meta["step"], arrays, loss, loss_steps)
    return SavedModel(meta["page"], snap)


# ------------------------------------------------------------------------------------------------ restoring


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))


def restore(trainer: Any, snap: Snapshot) -> Any:
    """Load ``snap`` into a fresh ``trainer`` of its config (``trainer.load_snapshot`` checks names, shapes, dtypes
    and the loss log), then check that what follows from the weights equals the file. Returns the trainer."""
    try:
        trainer.load_snapshot(snap)
    except (KeyError, IndexError, TypeError, RuntimeError) as e:
        raise ValueError(f"the file does not fit this config: {e}") from None
    got = trainer.snapshot()
    if set(got.arrays) != set(snap.arrays):
        raise ValueError(f"the file's arrays are not this config's: {names_diff(snap.arrays, got.arrays)}")
    for name, a in snap.arrays.items():
        if not _close(got.arrays[name], a):
            raise ValueError(
                f"array {name!r} does not follow from the weights and the config (altered, or its frozen parts "
                "were drawn on another kind of device)"
            )
    if not _close(got.loss, snap.loss) or not np.array_equal(got.loss_steps, snap.loss_steps):
        raise ValueError("the loss log does not fit the parts' loss logs")
    return trainer


def build(saved: SavedModel) -> Any:
    """A trainer of the saved model's config with its weights, step and loss log."""
    snap = saved.snapshot
    cfg = parse_config(snap.toy, snap.config)
    return restore(make_trainer(snap.toy, cfg), snap)


def load_trainer(path: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES) -> Any:
    """The trainer of a saved model (``path`` the ``.safetensors`` file; its ``.json`` beside it), at its step."""
    return build(read_model(path, config_path(path), max_bytes))


def load_model(path: str | os.PathLike, max_bytes: int = MAX_MODEL_BYTES) -> Snapshot:
    """The snapshot of a saved model, checked against its config's trainer."""
    return load_trainer(path, max_bytes).snapshot()
