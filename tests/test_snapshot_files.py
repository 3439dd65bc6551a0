"""Snapshot.load against hostile files: every one is refused with a ValueError, quickly, before it allocates."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from toys.core.snapshot import MAX_LOAD_BYTES, Snapshot


def _npy(shape, dtype="<f4", body: bytes = b"") -> bytes:
    """An .npy member whose header declares ``shape`` and ``dtype`` followed by ``body`` (any length)."""
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + body


def _npz(members: dict[str, bytes], meta: dict | None = None) -> io.BytesIO:
    meta = {"toy": "tms", "config": {}, "step": 1} if meta is None else meta
    base = {
        "loss.npy": _as_npy(np.zeros((1, 1))),
        "loss_steps.npy": _as_npy(np.ones(1, np.int64)),
        "meta.npy": _as_npy(np.array(json.dumps(meta))),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (base | members).items():
            z.writestr(name, data)
    buf.seek(0)
    return buf


def _as_npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def test_a_good_file_still_loads():
    snap = Snapshot.load(_npz({"W.npy": _as_npy(np.ones((2, 3), np.float32))}))
    assert snap.step == 1 and snap["W"].shape == (2, 3)


def test_a_header_declaring_a_huge_shape_is_refused_without_allocating():
    with pytest.raises(ValueError, match="declares"):
        Snapshot.load(_npz({"W.npy": _npy((10**12,), body=bytes(16))}))


@pytest.mark.parametrize("step", ["1e400", "-3", "2.5", "true", '"7"'])
def test_a_step_that_is_no_integer_in_range_is_refused(step):
    buf = io.BytesIO()
    meta = '{"toy": "tms", "config": {}, "step": ' + step + "}"
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("loss.npy", _as_npy(np.zeros((1, 1))))
        z.writestr("loss_steps.npy", _as_npy(np.ones(1, np.int64)))
        z.writestr("meta.npy", _as_npy(np.array(meta)))
    buf.seek(0)
    with pytest.raises(ValueError, match="step"):
        Snapshot.load(buf)


def test_object_arrays_foreign_members_and_bad_metadata_are_refused():
    with pytest.raises(ValueError, match="objects"):
        Snapshot.load(_npz({"W.npy": _npy((2,), dtype="|O", body=bytes(16))}))
    with pytest.raises(ValueError, match="not an array"):
        Snapshot.load(_npz({"evil.pkl": b"cos\nsystem\n"}))
    with pytest.raises(ValueError, match="toy"):
        Snapshot.load(_npz({}, meta={"config": {}, "step": 1}))
    with pytest.raises(ValueError, match="JSON objects"):
        Snapshot.load(_npz({}, meta={"toy": "tms", "config": [1], "step": 1}))


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A ~0.7 MB archive of one member that inflates to 640 MB of zeros (more than MAX_LOAD_BYTES)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("W.npy", "w", force_zip64=True) as f:
        f.write(_npy((160 * 2**20,)))
        chunk = bytes(16 * 2**20)
        for _ in range(40):
            f.write(chunk)
    assert 40 * 16 * 2**20 > MAX_LOAD_BYTES
    return buf.getvalue()


def test_a_zip_bomb_is_refused_before_any_member_is_inflated(zip_bomb, monkeypatch):
    def no_reading(*args, **kwargs):
        raise AssertionError("a member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    with pytest.raises(ValueError, match="unpacks to"):
        Snapshot.load(io.BytesIO(zip_bomb))


def test_the_byte_limit_is_a_parameter():
    data = _npz({"W.npy": _as_npy(np.ones(1000, np.float32))})
    with pytest.raises(ValueError, match="more than the 2,000 allowed"):
        Snapshot.load(data, max_bytes=2000)
