"""The memory check refuses a model before allocating it, with sizes in the message; the page keeps running."""

from __future__ import annotations

import pytest
import torch

from toys import TMSConfig, TMSTrainer
from toys.core import memory
from toys.core.memory import check_fits, tms_step_bytes


def test_step_bytes_grows_with_every_dimension():
    base = tms_step_bytes(10, 1024, 5, 2)
    assert tms_step_bytes(20, 1024, 5, 2) == 2 * base
    assert tms_step_bytes(10, 2048, 5, 2) == 2 * base
    assert tms_step_bytes(10, 1024, 6, 2) > base
    assert tms_step_bytes(10, 1024, 5, 3) > base


def test_step_bytes_covers_the_batch_actually_allocated():
    """At least the (I, B, F) float32 batch, its mask and the model output must be counted."""
    n_i, b, f, h = 7, 300, 11, 3
    assert tms_step_bytes(n_i, b, f, h) >= 3 * 4 * n_i * b * f


def test_check_fits_raises_with_sizes(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 * 2**30)
    check_fits(2**29, torch.device("cpu"), "small")
    with pytest.raises(ValueError, match=r"needs about 4\.0 GiB.*1\.0 GiB"):
        check_fits(4 * 2**30, torch.device("cpu"), "big")


def test_autograd_trainer_refuses_what_does_not_fit(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 64 * 2**20)
    cfg = TMSConfig(n_features=100, n_hidden=10, n_instances=200, batch_size=1024, device="cpu")
    with pytest.raises(ValueError, match="lower the batch size"):
        TMSTrainer(cfg, engine="autograd")


def test_numba_engine_needs_no_batch_in_memory(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 64 * 2**20)
    cfg = TMSConfig(n_features=100, n_hidden=10, n_instances=200, batch_size=1024, device="cpu", steps=10)
    trainer = TMSTrainer(cfg)
    assert trainer.engine_name == "numba"


def test_importance_overflow_is_rejected():
    with pytest.raises(ValueError, match="importance_decay"):
        TMSConfig(n_features=40, importance_decay=10.0)
    TMSConfig(n_features=31, importance_decay=10.0)  # 10**30 still fits float32
