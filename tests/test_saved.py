"""Saved models (toys.core.saved): every toy round-trips through safetensors + JSON with identical weights, and
every hostile file is refused with ValueError before anything is unpickled or read in full."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import safetensors.numpy

from toys import (
    AbsConfig,
    AbsTrainer,
    CCConfig,
    CCTrainer,
    PhaseConfig,
    PhaseTrainer,
    PipelineConfig,
    PipelineTrainer,
    TMSConfig,
    UANDConfig,
    UANDTrainer,
    load_model,
    load_trainer,
    make_tms_trainer,
    save_model,
)
from toys.circuits.planted import CircuitsConfig
from toys.circuits.transcoder import TranscoderConfig
from toys.core.composite import Pair, PairTrainer
from toys.core.saved import (
    MAX_MODEL_BYTES,
    config_json,
    config_path,
    model_name,
    read_model,
    restore,
    weights_bytes,
)
from toys.core.snapshot import Snapshot

TMS = TMSConfig(n_features=5, n_hidden=2, n_instances=3, steps=300, log_every=50, device="cpu")
PIPE = PipelineConfig(CircuitsConfig(steps=60, log_every=10, device="cpu"), TranscoderConfig(steps=60, log_every=10))


def _trainers():
    """(name, trainer factory, steps to train before saving): one of every kind of model a page trains."""
    return [
        ("tms", lambda: make_tms_trainer(TMS), 120),
        ("tms_best_of", lambda: make_tms_trainer(TMS.replace(restarts=3)), 120),
        ("tms_pair", lambda: PairTrainer(Pair(TMS, TMS.replace(activation="gelu")), make_tms_trainer), 100),
        ("tms_done", lambda: make_tms_trainer(TMS.replace(steps=130)), 130),  # last logged step off the grid
        ("abs", lambda: AbsTrainer(AbsConfig(steps=200, device="cpu")), 77),
        (
            "cc",
            lambda: CCTrainer(CCConfig(steps=200, n_features=20, d_embed=60, d_mlp=10, log_every=10, device="cpu")),
            40,
        ),
        (
            "cc_sweep",
            lambda: CCTrainer(
                CCConfig(steps=200, n_features=20, d_mlp=10, mixing="random", log_every=10, device="cpu")
            ),
            40,
        ),
        ("uand", lambda: UANDTrainer(UANDConfig(steps=200, log_every=10, device="cpu")), 30),
        (
            "phase",
            lambda: PhaseTrainer(PhaseConfig(steps=200, n_importance=4, n_density=4, log_every=10, device="cpu")),
            30,
        ),
        ("pipeline_model", lambda: PipelineTrainer(PIPE), 30),
        ("pipeline_transcoder", lambda: PipelineTrainer(PIPE), 90),
    ]


def _same(a: Snapshot, b: Snapshot) -> None:
    assert (a.toy, a.config, a.step) == (b.toy, b.config, b.step)
    assert set(a.arrays) == set(b.arrays)
    for k in a.arrays:
        assert a.arrays[k].dtype == b.arrays[k].dtype, k
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.loss_steps, b.loss_steps)


@pytest.mark.parametrize("name,make,steps", _trainers(), ids=[t[0] for t in _trainers()])
def test_round_trip_identical_weights(tmp_path, name, make, steps):
    trainer = make()
    trainer.advance(steps)
    snap = trainer.snapshot()
    assert snap.step == steps and len(snap.loss_steps) > 0
    w, c = save_model(snap, tmp_path / "model", page="p")
    assert w.name == "model.safetensors" and c.name == "model.json"
    _same(load_model(w), snap)
    resumed = load_trainer(w)
    assert resumed.step == steps
    n = resumed.advance(10)
    assert resumed.step == steps + n and n == min(10, resumed.cfg.steps - steps)


def test_loaded_trainer_trains_from_the_saved_weights(tmp_path):
    """A loaded TMS model at step 300 of 300 fits the pentagon it learned, not a fresh init: its weights are the
    saved ones, and one more trainer of the same config from scratch is different."""
    cfg = TMSConfig(n_features=5, n_hidden=2, n_instances=2, steps=400, device="cpu")
    t = make_tms_trainer(cfg)
    t.advance(400)
    w, _ = save_model(t.snapshot(), tmp_path / "m.safetensors")
    loaded = load_model(w)
    fresh = make_tms_trainer(cfg).snapshot()
    assert not np.allclose(loaded["W"], fresh["W"])
    np.testing.assert_array_equal(loaded["W"], t.snapshot()["W"])
    assert loaded.step == 400


def test_file_names_carry_page_config_and_step():
    snap = make_tms_trainer(TMSConfig(n_features=5, n_hidden=2, n_instances=4, steps=10, device="cpu")).snapshot()
    assert model_name(snap, "superposition") == "superposition_tms_f5_h2_i4_step0"
    pair = PairTrainer(Pair(TMS, TMS.replace(activation="gelu")), make_tms_trainer)
    pair.advance(50)
    assert model_name(pair.snapshot(), "superposition") == "superposition_tms_f5_h2_i3_pair_step50"
    uand = UANDTrainer(UANDConfig(n_inputs=12, d_max=96, n_instances=5, steps=10, device="cpu")).snapshot()
    assert model_name(uand) == "uand_m12_d96_i5_step0"
    assert config_path("a/b.safetensors").as_posix() == "a/b.json"


def test_config_file_holds_toy_page_step_config(tmp_path):
    t = make_tms_trainer(TMS)
    t.advance(50)
    _, c = save_model(t.snapshot(), tmp_path / "m", page="tms")
    meta = json.loads(c.read_text())
    assert meta["toy"] == "tms" and meta["page"] == "tms" and meta["step"] == 50
    assert TMSConfig.from_dict(meta["config"]) == TMS


# ------------------------------------------------------------------------------------------------ hostile files


@pytest.fixture(scope="module")
def saved():
    t = make_tms_trainer(TMS)
    t.advance(100)
    snap = t.snapshot()
    return snap, weights_bytes(snap), config_json(snap, "tms")


def _refused(weights, config, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        restore(make_tms_trainer(TMS), read_model(weights, config).snapshot)


def test_good_bytes_load(saved):
    snap, w, c = saved
    _same(restore(make_tms_trainer(TMS), read_model(w, c).snapshot).snapshot(), snap)


@pytest.mark.parametrize("cut", [3, 8, 100, -1, -40])
def test_truncated_file_refused(saved, cut):
    _, w, c = saved
    _refused(w[:cut], c, "too few|header|truncated|cover|not a safetensors")


def test_pickle_renamed_is_refused_and_never_unpickled(saved, tmp_path):
    _, _, c = saved
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps({"W": Evil()})
    path = tmp_path / "evil.safetensors"
    path.write_bytes(payload)
    config_path(path).write_text(c)
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(tmp_path / "evil.safetensors")
    path.write_bytes(pickle.dumps(np.zeros((3, 2, 5), np.float32)))  # a pickled array renamed, too
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(path)


def test_npz_renamed_refused(saved):
    snap, _, c = saved
    buf = io.BytesIO()
    np.savez(buf, **snap.arrays)
    assert zipfile.is_zipfile(io.BytesIO(buf.getvalue()))
    _refused(buf.getvalue(), c, "not a safetensors file")
    _refused(snap.to_npz_bytes(), c, "not a safetensors file")


def test_wrong_shape_refused(saved):
    snap, _, c = saved
    bad = Snapshot(
        snap.toy, snap.config, snap.step, {**snap.arrays, "W": snap["W"][:, :, :4]}, snap.loss, snap.loss_steps
    )
    _refused(weights_bytes(bad), c, r"array 'W' is float32 \(3, 2, 4\); this config's model has float32 \(3, 2, 5\)")


def test_wrong_dtype_missing_and_extra_arrays_refused(saved):
    snap, _, c = saved
    as64 = {**snap.arrays, "W": snap["W"].astype(np.float64)}
    _refused(weights_bytes(Snapshot("tms", snap.config, snap.step, as64, snap.loss, snap.loss_steps)), c, "float64")
    missing = {"W": snap["W"]}
    _refused(
        weights_bytes(Snapshot("tms", snap.config, snap.step, missing, snap.loss, snap.loss_steps)), c, "missing 'b'"
    )
    extra = {**snap.arrays, "payload": np.zeros(3, np.float32)}
    _refused(weights_bytes(Snapshot("tms", snap.config, snap.step, extra, snap.loss, snap.loss_steps)), c, "unexpected")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_refused(saved, value):
    snap, _, c = saved
    W = snap["W"].copy()
    W[1, 0, 2] = value
    bad = Snapshot("tms", snap.config, snap.step, {**snap.arrays, "W": W}, snap.loss, snap.loss_steps)
    _refused(weights_bytes(bad), c, "NaN or infinite")


def test_200_mb_file_refused_before_reading(saved, tmp_path, monkeypatch):
    _, w, c = saved
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:
        f.write(w)
        f.truncate(200 * 2**20)  # sparse: 200 MB on paper
    config_path(path).write_text(c)
    reads = []
    real_open = open

    def counting_open(file, mode="r", *args, **kwargs):
        if str(file) == str(path):
            reads.append(mode)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    with pytest.raises(ValueError, match=r"200\.0 MB, more than the 64 MB"):
        load_model(path)
    assert reads == []  # refused from the file's size alone
    assert MAX_MODEL_BYTES == 64 * 2**20


def test_header_declaring_more_data_than_the_file_holds_refused(saved):
    _, w, c = saved
    (n,) = struct.unpack("<Q", w[:8])
    header = json.loads(w[8 : 8 + n])
    header["W"]["data_offsets"][1] += 10**9
    header["W"]["shape"] = [3, 2, 5 + 10**9 // 12]
    raw = json.dumps(header).encode()
    _refused(struct.pack("<Q", len(raw)) + raw + w[8 + n :], c, "truncated or altered")


def test_huge_header_length_refused(saved):
    _, w, c = saved
    _refused(struct.pack("<Q", 2**62) + w[8:], c, "declare a .*-byte header")


def test_unknown_dtype_refused(saved):
    snap, _, c = saved
    tensors = {k: np.ascontiguousarray(v) for k, v in snap.arrays.items()} | {
        "_loss": snap.loss,
        "_loss_steps": snap.loss_steps,
    }
    tensors["b"] = snap["b"].astype(np.float16)
    raw = safetensors.numpy.save(
        tensors, metadata={"format": "superposition-playground/model", "toy": "tms", "step": "100"}
    )
    _refused(raw, c, "dtype 'F16'")


def test_config_of_another_toy_refused(saved, tmp_path):
    snap, w, _ = saved
    abs_snap = AbsTrainer(AbsConfig(steps=10, device="cpu")).snapshot()
    with pytest.raises(ValueError, match="not from the same save"):
        read_model(w, config_json(abs_snap))
    # the config of another toy, passed off as this one's: its fields are not a TMSConfig's
    meta = json.loads(config_json(snap))
    meta["config"] = abs_snap.config
    path = tmp_path / "m.safetensors"
    path.write_bytes(w)
    config_path(path).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown config field"):
        load_model(path)


def test_config_of_another_size_refused(saved, tmp_path):
    snap, w, _ = saved
    meta = json.loads(config_json(snap))
    meta["config"]["n_features"] = 6
    path = tmp_path / "m.safetensors"
    path.write_bytes(w)
    config_path(path).write_text(json.dumps(meta))
    with pytest.raises(
        ValueError, match=r"array 'W' is float32 \(3, 2, 5\); this config's model has float32 \(3, 2, 6\)"
    ):
        load_model(path)


def test_bad_config_files_refused(saved):
    _, w, c = saved
    for text, match in [
        ("not json", "not JSON"),
        ("[]", "not a saved model's config"),
        (json.dumps({**json.loads(c), "version": 99}), "version 99"),
        (json.dumps({**json.loads(c), "step": -1}), "step -1"),
        ("x" * (2**20 + 1), "more than"),
    ]:
        with pytest.raises(ValueError, match=match):
            read_model(w, text.encode())


def test_altered_derived_array_refused():
    """CC's folded weights A follow from W_in and the embedding: a file whose A does not is refused."""
    t = CCTrainer(CCConfig(steps=50, n_features=20, d_embed=60, d_mlp=10, device="cpu"))
    t.advance(10)
    snap = t.snapshot()
    A = snap["A"].copy()
    A[0, 0, 0] += 1.0
    bad = Snapshot("cc", snap.config, snap.step, {**snap.arrays, "A": A}, snap.loss, snap.loss_steps)
    with pytest.raises(ValueError, match="'A' does not follow"):
        restore(CCTrainer(CCConfig.from_dict(snap.config)), read_model(weights_bytes(bad), config_json(bad)).snapshot)


def test_loss_log_must_fit_the_step(saved):
    snap, _, c = saved
    for loss, steps in [(snap.loss[:-1], snap.loss_steps[:-1]), (snap.loss, snap.loss_steps + 1)]:
        bad = Snapshot("tms", snap.config, snap.step, snap.arrays, loss, steps)
        _refused(weights_bytes(bad), c, "loss")


def test_step_beyond_budget_refused(saved):
    snap, _, _ = saved
    bad = Snapshot("tms", snap.config, 10**6, snap.arrays, snap.loss, snap.loss_steps)
    _refused(weights_bytes(bad), config_json(bad), "not an integer in")


def test_pipeline_transcoder_before_model_done_refused():
    t = PipelineTrainer(PIPE)
    t.advance(90)
    snap = t.snapshot()
    early = Snapshot(snap.toy, snap.config, 30, snap.arrays, snap.loss, snap.loss_steps)
    with pytest.raises(ValueError, match="before the model's 60 steps"):
        restore(PipelineTrainer(PIPE), early)


def test_path_size_is_read_from_the_file_system(saved, tmp_path):
    _, w, c = saved
    path = tmp_path / "m.safetensors"
    path.write_bytes(w)
    config_path(path).write_text(c)
    assert os.path.getsize(path) == len(w)
    assert load_model(path).step == 100
