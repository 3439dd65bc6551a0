"""Listed per-instance probabilities and best-of-K seeds per instance."""

from __future__ import annotations

import numpy as np
import pytest

from toys import TOYS, TMSConfig, TMSTrainer, make_tms_trainer
from toys.core.data import instance_probability
from toys.tms.train import BestOfTrainer

PRIVILEGED = "0.75,0.35,0.15,0.1,0.06,0.02,0.01"


def test_listed_probabilities_replace_the_sweep():
    cfg = TMSConfig(n_instances=7, p_values=PRIVILEGED)
    np.testing.assert_allclose(instance_probability(cfg), [0.75, 0.35, 0.15, 0.1, 0.06, 0.02, 0.01])
    assert TMSConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "text,match",
    [
        ("0.5,0.2", "n_instances"),
        ("0.5,abc,0.1", "comma-separated"),
        ("0.5,2,0.1", "out of range"),
        ("0.5,,0.1", "comma-separated"),
    ],
)
def test_bad_probability_lists_are_named(text, match):
    with pytest.raises(ValueError, match=match):
        TMSConfig(n_instances=3, p_values=text)


def test_anticorrelated_pairs_check_the_listed_probabilities():
    with pytest.raises(ValueError, match="anticorrelated"):
        TMSConfig(n_features=4, n_instances=2, p_max=0.1, p_min=0.1, p_values="0.3,0.7", anticorrelated_pairs=1)


def test_restarts_are_validated_and_need_the_factory():
    with pytest.raises(ValueError, match="restarts"):
        TMSConfig(restarts=0)
    with pytest.raises(ValueError, match="100000"):
        TMSConfig(n_instances=50_000, restarts=3)
    with pytest.raises(ValueError, match="make_tms_trainer"):
        TMSTrainer(TMSConfig(restarts=2))
    assert TOYS["tms"][1] is make_tms_trainer


def test_best_of_keeps_the_lowest_loss_seed_of_every_instance():
    cfg = TMSConfig(
        n_features=6,
        n_hidden=2,
        n_instances=3,
        p_max=0.3,
        p_min=0.03,
        restarts=4,
        steps=600,
        log_every=50,
        device="cpu",
        seed=3,
    )
    trainer = make_tms_trainer(cfg)
    assert isinstance(trainer, BestOfTrainer)
    snap = trainer.run()
    assert snap.config == cfg.to_dict() and snap["W"].shape == (3, 2, 6) and snap.loss.shape[1] == 3
    # the same batched model trained by hand: 12 models, 4 seeds of each probability
    inner_cfg = cfg.replace(
        n_instances=12, restarts=1, p_values=",".join(repr(float(v)) for v in np.repeat(instance_probability(cfg), 4))
    )
    inner = TMSTrainer(inner_cfg).run()
    recent = inner.loss[-5:].mean(axis=0).reshape(3, 4)
    best = recent.argmin(axis=1)
    assert snap.extras["restart"] == best.tolist()
    for i in range(3):
        np.testing.assert_array_equal(snap["W"][i], inner["W"][4 * i + best[i]])
        assert recent[i, best[i]] == recent[i].min()
        np.testing.assert_array_equal(snap.loss[:, i], inner.loss[:, 4 * i + best[i]])
