"""The trainer protocol and the one way composites pack their parts' snapshots."""

from __future__ import annotations

import io

import numpy as np
import pytest

from toys import (
    AbsConfig,
    AbsTrainer,
    CCConfig,
    CCTrainer,
    Pair,
    PairTrainer,
    PhaseConfig,
    PhaseTrainer,
    PipelineConfig,
    PipelineTrainer,
    Snapshot,
    TMSConfig,
    TMSTrainer,
    Trainer,
    UANDConfig,
    UANDTrainer,
    make_tms_trainer,
)
from toys.circuits.planted import CircuitsConfig
from toys.circuits.transcoder import TranscoderConfig
from toys.core.composite import pack, unpack


def _trainers():
    tms = TMSConfig(n_instances=2, steps=20, batch_size=16, log_every=10)
    return [
        TMSTrainer(tms),
        make_tms_trainer(tms.replace(restarts=2)),
        PairTrainer(Pair(tms, tms.replace(activation="gelu")), TMSTrainer),
        AbsTrainer(AbsConfig(steps=20, batch_size=16, log_every=10)),
        CCTrainer(CCConfig(n_features=8, d_embed=16, d_mlp=4, steps=20, batch_size=16, log_every=10)),
        UANDTrainer(UANDConfig(n_inputs=6, d_min=4, d_max=8, n_instances=2, steps=20, batch_size=16, log_every=10)),
        PhaseTrainer(
            PhaseConfig(n_importance=2, n_density=2, seeds=1, value_samples=2, steps=20, log_every=10, eval_values=8)
        ),
        PipelineTrainer(
            PipelineConfig(
                CircuitsConfig(n_circuits=2, steps=10, batch_size=16, log_every=5),
                TranscoderConfig(n_latents=8, steps=10, batch_size=16, log_every=5),
            )
        ),
    ]


@pytest.mark.parametrize("trainer", _trainers(), ids=lambda t: type(t).__name__)
def test_every_trainer_follows_the_protocol_and_stops_at_its_budget(trainer):
    assert isinstance(trainer, Trainer)
    assert trainer.advance(7) == 7 and trainer.step == 7
    snap = trainer.run()
    assert trainer.done and trainer.step == trainer.cfg.steps == snap.step
    assert trainer.advance(5) == 0
    assert isinstance(trainer.engine_name, str) and trainer.engine_name
    assert snap.loss_steps[-1] == trainer.cfg.steps and len(snap.loss) == len(snap.loss_steps)


def _snap(toy: str, seed: int) -> Snapshot:
    rng = np.random.default_rng(seed)
    return Snapshot(
        toy,
        {"n": seed, "name": toy},
        10 + seed,
        {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=3)},
        rng.normal(size=(4, 2)),
        np.arange(1, 5) * 10,
        {"note": seed},
    )


def test_unpack_gives_back_every_part_exactly_also_through_a_file():
    parts = {"a": _snap("tms", 1), "b": _snap("abs", 2)}
    packed = pack("pair", {"x": 1}, 11, np.zeros((4, 4)), np.arange(4), parts, stage="done")
    buf = io.BytesIO(packed.to_npz_bytes())
    for snap in (packed, Snapshot.load(buf)):
        back = unpack(snap)
        assert list(back) == ["a", "b"] and snap.extras["stage"] == "done"
        for name, want in parts.items():
            got = back[name]
            assert (got.toy, got.config, got.step, got.extras) == (want.toy, want.config, want.step, want.extras)
            assert sorted(got.arrays) == sorted(want.arrays)
            for k in want.arrays:
                np.testing.assert_array_equal(got.arrays[k], want.arrays[k])
            np.testing.assert_array_equal(got.loss, want.loss)
            np.testing.assert_array_equal(got.loss_steps, want.loss_steps)


def test_pack_refuses_a_part_name_with_a_slash():
    with pytest.raises(ValueError, match="must not contain"):
        pack("pair", {}, 0, np.zeros((0, 1)), np.zeros(0), {"a/b": _snap("tms", 0)})


def test_a_pair_and_its_parts_agree():
    cfg = TMSConfig(n_instances=2, steps=30, batch_size=16, log_every=10)
    pair = PairTrainer(Pair(cfg, cfg.replace(activation="gelu")), TMSTrainer)
    snap = pair.run()
    a, b = unpack(snap)["a"], unpack(snap)["b"]
    np.testing.assert_array_equal(snap.loss, np.concatenate([a.loss, b.loss], axis=1))
    np.testing.assert_array_equal(a["W"], pair.a.snapshot()["W"])
    np.testing.assert_array_equal(b["W"], pair.b.snapshot()["W"])
    assert a.config == cfg.to_dict() and b.config["activation"] == "gelu"
