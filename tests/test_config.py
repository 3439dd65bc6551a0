"""TMSConfig: defaults, flat-dict round trip (plain and URL strings), and field-naming errors at the boundary."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toys.core.config import ACTIVATIONS, DEVICES, OPTIMIZERS, SCHEDULES
from toys.tms.config import MODEL_KINDS, VALUE_LAWS, TMSConfig


def test_defaults_are_valid_and_the_intro_setup():
    cfg = TMSConfig()
    assert (cfg.n_features, cfg.n_hidden, cfg.model) == (5, 2, "relu_output")
    assert cfg.p_min <= cfg.p_max
    assert cfg.paired_features == 0


def test_round_trip_through_a_flat_dict():
    cfg = TMSConfig(
        n_features=7,
        n_hidden=3,
        p_max=0.3,
        p_min=0.01,
        correlated_pairs=1,
        anticorrelated_pairs=2,
        optimizer="adamw",
        weight_decay=0.01,
        schedule="cosine",
        value_law="discrete123",
        seed=42,
    )
    d = cfg.to_dict()
    assert all(isinstance(v, (int, float, str)) for v in d.values())
    assert set(d) == {f.name for f in dataclasses.fields(TMSConfig)}
    assert TMSConfig.from_dict(d) == cfg


def test_round_trip_from_url_strings():
    cfg = TMSConfig(
        n_features=9,
        n_hidden=4,
        n_instances=3,
        p_max=0.5,
        p_min=1e-5,
        importance_decay=0.9,
        lr=3e-4,
        steps=1234,
        subset_size=2,
        subset_probability=0.25,
        activation="gelu",
    )
    as_url = {k: str(v) for k, v in cfg.to_dict().items()}
    back = TMSConfig.from_dict(as_url)
    assert back == cfg
    assert type(back.n_features) is int and type(back.lr) is float


def test_from_dict_takes_a_partial_dict_and_integer_valued_strings():
    cfg = TMSConfig.from_dict({"n_features": "20", "steps": "1e3", "p_max": "1"})
    assert cfg == TMSConfig(n_features=20, steps=1000, p_max=1.0)
    assert type(cfg.steps) is int


# ------------------------------------------------------------------------------------------- invalid values

BAD_FIELDS = [
    ({"n_features": 0}, "n_features", "0"),
    ({"n_features": 5000}, "n_features", "5000"),
    ({"n_features": 2.5}, "n_features", "2.5"),
    ({"n_features": True}, "n_features", "True"),
    ({"n_hidden": 0}, "n_hidden", "0"),
    ({"n_instances": 0}, "n_instances", "0"),
    ({"p_max": 0.0}, "p_max", "0.0"),
    ({"p_max": 1.5}, "p_max", "1.5"),
    ({"p_min": -0.1}, "p_min", "-0.1"),
    ({"p_min": float("nan")}, "p_min", "nan"),
    ({"p_min": 0.5, "p_max": 0.1}, "p_min", "0.5"),
    ({"importance_decay": 0.0}, "importance_decay", "0.0"),
    ({"importance_decay": 11.0}, "importance_decay", "11.0"),
    ({"model": "foo"}, "model", "'foo'"),
    ({"activation": "softmax"}, "activation", "'softmax'"),
    ({"correlated_pairs": -1}, "correlated_pairs", "-1"),
    ({"anticorrelated_pairs": 1, "p_max": 0.6}, "p_max", "0.6"),
    ({"correlated_pairs": 2, "anticorrelated_pairs": 1}, "correlated_pairs", "2"),
    ({"correlated_pairs": 3}, "correlated_pairs", "3"),
    ({"value_law": "gauss"}, "value_law", "'gauss'"),
    ({"subset_size": 6}, "subset_size", "6"),
    ({"subset_size": 2, "correlated_pairs": 2}, "subset_size", "2"),
    ({"subset_probability": 0.0}, "subset_probability", "0.0"),
    ({"batch_size": 0}, "batch_size", "0"),
    ({"steps": 0}, "steps", "0"),
    ({"lr": 0.0}, "lr", "0.0"),
    ({"lr": 2.0}, "lr", "2.0"),
    ({"lr": float("inf")}, "lr", "inf"),
    ({"schedule": "step"}, "schedule", "'step'"),
    ({"optimizer": "sgd"}, "optimizer", "'sgd'"),
    ({"weight_decay": 0.1}, "weight_decay", "0.1"),
    ({"weight_decay": -1.0, "optimizer": "adamw"}, "weight_decay", "-1.0"),
    ({"seed": -1}, "seed", "-1"),
    ({"seed": 2**31}, "seed", str(2**31)),
    ({"device": "tpu"}, "device", "'tpu'"),
    ({"log_every": 0}, "log_every", "0"),
    ({"n_features": "five"}, "n_features", "'five'"),
]


@pytest.mark.parametrize("changes, field, value", BAD_FIELDS, ids=[f"{f}={v}" for _, f, v in BAD_FIELDS])
def test_out_of_range_field_names_field_and_value(changes, field, value):
    with pytest.raises(ValueError) as e:
        TMSConfig(**changes)
    assert f"{field}={value}" in str(e.value)


@pytest.mark.parametrize(
    "d, field, value",
    [
        ({"lr": "fast"}, "lr", "'fast'"),
        ({"n_features": "5x"}, "n_features", "'5x'"),
        ({"seed": ""}, "seed", "''"),
        ({"p_max": "0.05", "p_min": "0.5"}, "p_min", "0.5"),
        ({"n_features": "0"}, "n_features", "0"),
        ({"model": "foo"}, "model", "'foo'"),
    ],
)
def test_from_dict_bad_strings_name_field_and_value(d, field, value):
    with pytest.raises(ValueError) as e:
        TMSConfig.from_dict(d)
    assert f"{field}={value}" in str(e.value)


def test_from_dict_rejects_unknown_keys_by_name():
    with pytest.raises(ValueError, match=r"bogus.*zeta|zeta.*bogus"):
        TMSConfig.from_dict({"n_features": 5, "zeta": 1, "bogus": "x"})


def test_messages_state_the_allowed_range_or_choices():
    with pytest.raises(ValueError, match=re.escape("[1, 4096]")):
        TMSConfig(n_features=0)
    with pytest.raises(ValueError, match="linear, relu_output, relu_hidden"):
        TMSConfig(model="foo")
    with pytest.raises(ValueError, match="adamw"):
        TMSConfig(weight_decay=0.1)


def test_frozen():
    cfg = TMSConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_features = 3  # type: ignore[misc]
    assert cfg.replace(n_features=3).n_features == 3
    with pytest.raises(ValueError, match="n_features=0"):
        cfg.replace(n_features=0)


# ------------------------------------------------------------------------------------ round-trip property


@st.composite
def valid_configs(draw) -> TMSConfig:
    n_features = draw(st.integers(1, 4096))
    corr = draw(st.integers(0, n_features // 2))
    anti = draw(st.integers(0, n_features // 2 - corr))
    p_cap = 0.5 if anti else 1.0
    ps = sorted(draw(st.lists(st.floats(1e-5, p_cap, allow_nan=False), min_size=2, max_size=2)))
    optimizer = draw(st.sampled_from(OPTIMIZERS))
    return TMSConfig(
        n_features=n_features,
        n_hidden=draw(st.integers(1, 1024)),
        n_instances=draw(st.integers(1, 100_000)),
        p_min=ps[0],
        p_max=ps[1],
        importance_decay=draw(st.floats(0.01, min(10.0, 10 ** (29.9 / max(n_features - 1, 1))))),  # no float32 overflow
        model=draw(st.sampled_from(MODEL_KINDS)),
        activation=draw(st.sampled_from(ACTIVATIONS)),
        correlated_pairs=corr,
        anticorrelated_pairs=anti,
        value_law=draw(st.sampled_from(VALUE_LAWS)),
        subset_size=draw(st.integers(0, n_features - 2 * (corr + anti))),
        subset_probability=draw(st.floats(1e-5, 1.0)),
        batch_size=draw(st.integers(1, 65_536)),
        steps=draw(st.integers(1, 10_000_000)),
        lr=draw(st.floats(1e-6, 1.0)),
        schedule=draw(st.sampled_from(SCHEDULES)),
        optimizer=optimizer,
        weight_decay=draw(st.floats(0.0, 10.0)) if optimizer == "adamw" else 0.0,
        seed=draw(st.integers(0, 2**31 - 1)),
        device=draw(st.sampled_from(DEVICES)),
        log_every=draw(st.integers(1, 100_000)),
    )


@settings(max_examples=200, deadline=None)
@given(valid_configs(), st.booleans())
def test_round_trip_property(cfg, as_strings):
    d = cfg.to_dict()
    if as_strings:
        d = {k: str(v) for k, v in d.items()}
    assert TMSConfig.from_dict(d) == cfg
