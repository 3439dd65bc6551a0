"""Every trainer checks its config's estimated memory (``toys.core.memory.estimate``) before it allocates anything,
loss log included, and refuses with sizes and the knobs to turn. ``tests/test_cost.py`` checks the estimates
against measured memory."""

from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode

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
    TMSConfig,
    TMSTrainer,
    UANDConfig,
    UANDTrainer,
    make_tms_trainer,
)
from toys.circuits.planted import CircuitsConfig, CircuitsTrainer
from toys.circuits.transcoder import TranscoderConfig, TranscoderTrainer
from toys.core import memory
from toys.core.memory import check_fits, estimate, knob_advice

LONG = {"steps": 10_000_000, "log_every": 1}  # a loss log of 10 million rows: gigabytes for a few columns


def test_the_tms_estimate_grows_with_every_dimension():
    base = TMSConfig(n_instances=10, batch_size=1024, n_features=5, n_hidden=2)
    cost = estimate(base).bytes
    for change in (
        {"n_instances": 20},
        {"batch_size": 2048},
        {"n_features": 6},
        {"n_hidden": 3},
        {"restarts": 2},
        {"steps": 20_000},
        {"log_every": 100},
    ):
        bigger = estimate(base.replace(**change)).bytes
        assert (bigger < cost) if "log_every" in change else (bigger > cost), change
    assert estimate(base.replace(n_instances=20)).bytes < 2 * cost  # the log grows, the library does not


def test_the_tms_estimate_covers_the_batch_autograd_allocates():
    """At least the (I, B, F) float32 batch, its mask and the model output, whichever engine runs."""
    n_i, b, f = 7, 300, 11
    assert estimate(TMSConfig(n_instances=n_i, batch_size=b, n_features=f, n_hidden=3)).bytes >= 3 * 4 * n_i * b * f


def test_check_fits_raises_with_sizes_and_knobs(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 * 2**30)
    check_fits(2**29, torch.device("cpu"), "small")
    with pytest.raises(ValueError, match=r"big needs about 4\.0 GiB.*1\.0 GiB.*lower batch_size or steps, or raise"):
        check_fits(4 * 2**30, torch.device("cpu"), "big", ("batch_size", "steps", "log_every"))


def test_knob_advice_reads_as_a_sentence():
    assert knob_advice(("batch_size",)) == "lower batch_size"
    assert knob_advice(("a", "b", "c", "log_every")) == "lower a, b or c, or raise log_every"
    assert knob_advice(()) == "choose a smaller model"


class _Factories(TorchFunctionMode):
    """Names of the torch functions called while active, but for ``torch.device``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name != "device":  # naming the device allocates nothing
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def circuits_model():
    return CircuitsTrainer(CircuitsConfig(steps=5)).run()


TRAINERS = [  # (name, build, config, a knob its refusal names)
    ("tms numba", lambda c: TMSTrainer(c, engine="numba"), TMSConfig(n_instances=1000, **LONG), "n_instances"),
    ("tms autograd", lambda c: TMSTrainer(c, engine="autograd"), TMSConfig(n_instances=1000, **LONG), "batch_size"),
    ("tms best of K", make_tms_trainer, TMSConfig(n_instances=100, restarts=10, **LONG), "restarts"),
    ("phase", PhaseTrainer, PhaseConfig(**LONG), "seeds"),
    ("abs", AbsTrainer, AbsConfig(n_instances=1000, **LONG), "n_hidden"),
    ("cc", CCTrainer, CCConfig(n_instances=64, **LONG), "d_mlp"),
    ("uand", UANDTrainer, UANDConfig(n_instances=32, **LONG), "d_max"),
    ("circuits", CircuitsTrainer, CircuitsConfig(n_neurons=8192, d_model=4096, **LONG), "n_neurons"),
    (
        "pipeline",
        PipelineTrainer,
        PipelineConfig(CircuitsConfig(n_neurons=8192, d_model=4096, **LONG), TranscoderConfig(log_every=1)),
        "n_neurons",
    ),
    (
        "pair",
        lambda p: PairTrainer(p, AbsTrainer),
        Pair(AbsConfig(n_instances=1000, **LONG), AbsConfig(n_instances=1000, activation="gelu", **LONG)),
        "n_features",
    ),
]


@pytest.mark.parametrize("name,build,cfg,knob", TRAINERS, ids=[t[0] for t in TRAINERS])
def test_every_trainer_refuses_what_does_not_fit_before_allocating(monkeypatch, name, build, cfg, knob):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 64 * 2**20)
    with (
        _Factories() as calls,
        pytest.raises(ValueError, match=rf"needs about .*B, more than .*lower .*{knob}.*raise log_every"),
    ):
        build(cfg)
    assert calls.calls == [], f"{name} called {calls.calls[:5]} before refusing"


def test_a_transcoder_is_checked_with_its_model(monkeypatch, circuits_model):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 64 * 2**20)
    with _Factories() as calls, pytest.raises(ValueError, match="n_latents"):
        TranscoderTrainer(TranscoderConfig(n_latents=65_536, batch_size=4096), circuits_model)
    assert calls.calls == []
    TranscoderTrainer(TranscoderConfig(steps=5), circuits_model).run()


def test_a_numba_trainer_counts_the_autograd_engine_it_may_start_with(monkeypatch):
    """The numba engine holds no batch, but the trainer starts on autograd while the kernels compile
    (``fastcore.warm``): the batch autograd draws counts."""
    monkeypatch.setattr(memory, "available_bytes", lambda device: 64 * 2**20)
    cfg = TMSConfig(n_features=100, n_hidden=10, n_instances=200, batch_size=1024, device="cpu", steps=10)
    with pytest.raises(ValueError, match="lower batch_size, n_instances"):
        TMSTrainer(cfg, engine="numba")
    small = cfg.replace(n_instances=2)
    assert TMSTrainer(small).engine_name == "numba"


def test_importance_overflow_is_rejected():
    with pytest.raises(ValueError, match="importance_decay"):
        TMSConfig(n_features=40, importance_decay=10.0)
    TMSConfig(n_features=31, importance_decay=10.0)  # 10**30 still fits float32
