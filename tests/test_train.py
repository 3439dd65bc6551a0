"""The trainer on the CPU: reproducibility, step budget and loss log, schedules, divergence, snapshot files."""

from __future__ import annotations

import io
import math
import time
import zipfile

import numpy as np
import pytest
import torch

from toys import Snapshot, TMSConfig, TMSTrainer, is_diverged
from toys.core.train import lr_factor

SMALL = {
    "n_features": 6,
    "n_hidden": 3,
    "n_instances": 3,
    "p_max": 0.5,
    "p_min": 0.05,
    "batch_size": 128,
    "device": "cpu",
}
ENGINES = ["auto", "autograd"]  # auto is the numba kernel on the CPU


def cfg_(**kw) -> TMSConfig:
    return TMSConfig(**{**SMALL, "steps": 300, "log_every": 50, **kw})


def assert_same_snapshot(a: Snapshot, b: Snapshot) -> None:
    assert a.toy == b.toy and a.step == b.step and a.config == b.config
    assert a.arrays.keys() == b.arrays.keys()
    for k in a.arrays:
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.loss_steps, b.loss_steps)


# ---------------------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_gives_bitwise_identical_snapshots(engine):
    cfg = cfg_(seed=7, schedule="cosine")
    a = TMSTrainer(cfg, engine=engine).run()
    b = TMSTrainer(cfg, engine=engine).run()
    assert_same_snapshot(a, b)
    assert not is_diverged(a)


@pytest.mark.parametrize("engine", ENGINES)
def test_chunking_of_advance_does_not_change_the_result(engine):
    cfg = cfg_(seed=3)
    whole = TMSTrainer(cfg, engine=engine).run()
    t = TMSTrainer(cfg, engine=engine)
    while not t.done:
        t.advance(7)
    assert_same_snapshot(whole, t.snapshot())


@pytest.mark.parametrize("engine", ENGINES)
def test_different_seed_differs(engine):
    a = TMSTrainer(cfg_(seed=1), engine=engine).run()
    b = TMSTrainer(cfg_(seed=2), engine=engine).run()
    assert not np.allclose(a["W"], b["W"])
    assert not np.allclose(a.loss, b.loss)


def test_initial_weights_are_xavier_normal_and_zero_bias():
    cfg = TMSConfig(n_features=40, n_hidden=10, n_instances=50, device="cpu")
    snap = TMSTrainer(cfg).snapshot()
    W, b = snap["W"], snap["b"]
    assert W.shape == (50, 10, 40) and b.shape == (50, 40)
    assert snap.step == 0 and len(snap.loss) == 0 and np.all(np.isnan(snap.final_loss))
    np.testing.assert_array_equal(b, 0.0)
    n = W.size
    std = math.sqrt(2 / (40 + 10))
    assert abs(W.mean()) <= 5 * std / math.sqrt(n)
    assert abs(W.var() / std**2 - 1) <= 5 * math.sqrt(2 / n)


# ------------------------------------------------------------------------------------ budget and loss log


@pytest.mark.parametrize(
    "steps, log_every, want",
    [
        (300, 50, [50, 100, 150, 200, 250, 300]),
        (230, 50, [50, 100, 150, 200, 230]),
        (30, 50, [30]),
        (5, 1, [1, 2, 3, 4, 5]),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_loss_log_steps(steps, log_every, want, engine):
    snap = TMSTrainer(cfg_(steps=steps, log_every=log_every), engine=engine).run()
    np.testing.assert_array_equal(snap.loss_steps, want)
    assert snap.loss.shape == (len(want), 3)
    assert snap.loss_steps.dtype == np.int64
    assert np.all(np.isfinite(snap.loss)) and np.all(snap.loss >= 0)
    np.testing.assert_array_equal(snap.final_loss, snap.loss[-1])
    assert snap.step == steps


def test_advance_never_exceeds_the_budget():
    t = TMSTrainer(cfg_(steps=100, log_every=30))
    assert t.advance(0) == 0 and t.advance(-5) == 0 and t.step == 0
    assert t.advance(40) == 40 and t.step == 40 and not t.done
    assert t.advance(1000) == 60 and t.step == 100 and t.done
    assert t.advance(10) == 0 and t.step == 100
    snap = t.snapshot()
    np.testing.assert_array_equal(snap.loss_steps, [30, 60, 90, 100])
    np.testing.assert_array_equal(t.run()["W"], snap["W"])  # run() on a spent trainer takes no step


def test_advance_for_stops_on_time():
    t = TMSTrainer(cfg_(steps=10_000_000, log_every=1000))
    t.advance(1)  # compile and warm up outside the clock
    t0 = time.perf_counter()
    n = t.advance_for(0.3, chunk=10)
    elapsed = time.perf_counter() - t0
    assert n > 0 and t.step == n + 1 and not t.done
    assert n % 10 == 0
    assert elapsed < 3.0


def test_advance_for_stops_at_the_budget():
    t = TMSTrainer(cfg_(steps=120))
    assert t.advance_for(60.0, chunk=50) == 120
    assert t.done and t.step == 120
    assert t.advance_for(60.0) == 0


# ------------------------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("total", [1, 10, 1000])
def test_lr_factor_closed_forms(total):
    assert lr_factor("constant", 0, total) == 1.0
    assert lr_factor("constant", total, total) == 1.0
    assert lr_factor("linear", 0, total) == 1.0
    assert lr_factor("linear", total, total) == 0.0
    assert lr_factor("cosine", 0, total) == 1.0
    assert lr_factor("cosine", total, total) == pytest.approx(0.0, abs=1e-15)
    if total % 2 == 0:
        assert lr_factor("linear", total // 2, total) == 0.5
        assert lr_factor("cosine", total // 2, total) == pytest.approx(0.5, abs=1e-15)
    if total % 4 == 0:  # cos(π/4) = √2/2
        assert lr_factor("cosine", total // 4, total) == pytest.approx(0.5 + math.sqrt(2) / 4, rel=1e-14)
        assert lr_factor("linear", total // 4, total) == 0.75


def test_lr_factor_rejects_unknown_schedule():
    with pytest.raises(ValueError, match="schedule='step'"):
        lr_factor("step", 0, 10)


@pytest.mark.parametrize("engine", ENGINES)
def test_schedule_reaches_the_optimizer(engine):
    cfg = cfg_(steps=100, schedule="linear", lr=0.01)
    t = TMSTrainer(cfg, engine=engine)
    t.advance(75)
    t.advance(1)  # the step taken at step index 75 uses lr·(1 − 75/100)
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.25, rel=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_step_linear_schedule_still_moves_the_weights(engine):
    """The factor is taken at the step's 0-based index, so a 1-step linear schedule steps at full lr, not at 0."""
    t = TMSTrainer(cfg_(steps=1, schedule="linear"), engine=engine)
    before = t.snapshot()["W"]
    after = t.run()["W"]
    assert not np.array_equal(before, after)


# ------------------------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("engine", ENGINES)
def test_injected_nan_is_detected(engine):
    t = TMSTrainer(cfg_(steps=100, log_every=10), engine=engine)
    t.advance(20)
    assert not is_diverged(t.snapshot())
    with torch.no_grad():
        t.params["W"][1, 0, 2] = float("nan")
    assert is_diverged(t.snapshot())  # the weight alone
    t.advance(10)
    snap = t.snapshot()
    assert is_diverged(snap)
    assert np.isnan(snap.final_loss[1])  # and the loss logged after it


def test_is_diverged_reads_the_latest_loss_and_every_array():
    base = {"toy": "tms", "config": {"n_instances": 2}, "step": 2, "loss_steps": np.array([1, 2])}
    ok = {"W": np.ones((2, 1, 2)), "b": np.zeros((2, 2))}
    assert not is_diverged(Snapshot(arrays=ok, loss=np.array([[1.0, 2.0], [0.5, 0.4]]), **base))
    assert is_diverged(Snapshot(arrays=ok, loss=np.array([[1.0, 2.0], [0.5, np.inf]]), **base))
    assert not is_diverged(Snapshot(arrays=ok, loss=np.array([[np.nan, 2.0], [0.5, 0.4]]), **base))  # recovered
    bad_b = {"W": ok["W"], "b": np.array([[0.0, -np.inf], [0.0, 0.0]])}
    assert is_diverged(Snapshot(arrays=bad_b, loss=np.array([[1.0, 2.0], [0.5, 0.4]]), **base))
    empty = dict(base, loss_steps=np.zeros(0, np.int64), step=0)
    assert not is_diverged(Snapshot(arrays=ok, loss=np.zeros((0, 2)), **empty))


# ------------------------------------------------------------------------------------------ snapshot files


def test_snapshot_npz_round_trip(tmp_path):
    snap = TMSTrainer(cfg_(steps=120, log_every=50)).run()
    snap = Snapshot(snap.toy, snap.config, snap.step, snap.arrays, snap.loss, snap.loss_steps, {"note": "hi"})
    path = tmp_path / "run.npz"
    snap.save(str(path))
    back = Snapshot.load(str(path))
    assert_same_snapshot(snap, back)
    assert back.extras == {"note": "hi"}
    assert TMSConfig.from_dict(back.config) == TMSConfig.from_dict(snap.config)
    for k in snap.arrays:
        assert back[k].dtype == snap[k].dtype
    with np.load(path, allow_pickle=False) as z:
        assert {"W", "b", "loss", "loss_steps", "meta"} <= set(z.files)
    assert_same_snapshot(snap, Snapshot.load(io.BytesIO(snap.to_npz_bytes())))


def test_loading_garbage_raises_value_error(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ValueError, match="not a snapshot"):
        Snapshot.load(str(path))
    with pytest.raises(ValueError):
        Snapshot.load(io.BytesIO(b""))
    with pytest.raises(ValueError):
        Snapshot.load(str(tmp_path / "missing.npz"))


def test_loading_truncated_or_corrupt_snapshots_raises_value_error():
    data = TMSTrainer(cfg_(steps=10, log_every=5)).run().to_npz_bytes()
    for cut in (1, 4, 30, len(data) // 2, len(data) - 5):
        with pytest.raises(ValueError, match="not a snapshot"):
            Snapshot.load(io.BytesIO(data[:cut]))
    rng = np.random.default_rng(0)
    for _ in range(300):  # flipped bytes: either still a valid snapshot, or a ValueError, never another error
        bad = bytearray(data)
        for j in rng.integers(0, len(bad), 2):
            bad[j] ^= int(rng.integers(1, 256))
        try:
            Snapshot.load(io.BytesIO(bytes(bad)))
        except ValueError:
            pass


def test_loading_npz_without_meta_raises_value_error(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, W=np.zeros((1, 2, 3)), loss=np.zeros((0, 1)), loss_steps=np.zeros(0))
    with pytest.raises(ValueError):
        Snapshot.load(str(path))
    np.savez(path, W=np.zeros((1, 2, 3)), loss=np.zeros((0, 1)), loss_steps=np.zeros(0), meta=np.array("{not json"))
    with pytest.raises(ValueError):
        Snapshot.load(str(path))


UNPICKLED: list[str] = []


def _record_unpickling(tag: str) -> str:
    UNPICKLED.append(tag)
    return tag


class _Trap:
    """Pickles to a call of ``_record_unpickling``: loading it with pickle would leave a mark."""

    def __reduce__(self):
        return (_record_unpickling, ("trap",))


def test_npz_with_pickled_object_array_raises_and_never_unpickles(tmp_path):
    good = TMSTrainer(cfg_(steps=10, log_every=5)).run()
    buf = io.BytesIO(good.to_npz_bytes())
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w") as zout:
        for name in zin.namelist():
            if name != "W.npy":
                zout.writestr(name, zin.read(name))
        obj = io.BytesIO()
        np.save(obj, np.array([_Trap(), _Trap()], dtype=object), allow_pickle=True)
        zout.writestr("W.npy", obj.getvalue())
    UNPICKLED.clear()
    with pytest.raises(ValueError):
        Snapshot.load(str(path))
    assert UNPICKLED == []
    # the control: the file really does unpickle when allowed, so the trap works
    with np.load(path, allow_pickle=True) as z:
        z["W"]
    assert UNPICKLED == ["trap", "trap"]
