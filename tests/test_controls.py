"""Control specs: URL values are vetted with messages; control values map onto valid configs."""

import pytest

from ui.controls import Spec, config_fields
from ui.tms_controls import PRESETS, SPECS, tms_config


def _defaults():
    return {s.key: s.default for s in SPECS}


def test_defaults_make_a_valid_config():
    cfg = tms_config(_defaults())
    assert cfg.p_max == 1.0 and cfg.p_min == pytest.approx(10**-1.3)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_makes_a_valid_config(name):
    keys = {s.key for s in SPECS}
    assert set(PRESETS[name]) <= keys
    tms_config(_defaults() | PRESETS[name])


def test_every_default_passes_its_own_url_check():
    for s in SPECS:
        assert s.check(str(s.default)) is None, s.key


@pytest.mark.parametrize(
    "raw, ok",
    [
        ("3", True),
        ("1", True),
        ("10", True),
        ("0", False),
        ("11", False),
        ("2.5", False),
        ("abc", False),
        ("nan", False),
        ("inf", False),
    ],
)
def test_int_spec_check(raw, ok):
    spec = Spec("k", "k", "int", 3, 1, 10)
    assert (spec.check(raw) is None) == ok


def test_choice_and_bool_checks():
    assert Spec("m", "m", "choice", "a", options=("a", "b")).check("c")
    assert Spec("m", "m", "choice", "a", options=("a", "b")).check("b") is None
    assert Spec("t", "t", "bool", True).check("maybe")


def test_adam_drops_weight_decay():
    cfg = tms_config(_defaults() | {"weight_decay": 0.1, "optimizer": "adam"})
    assert cfg.weight_decay == 0.0
    assert tms_config(_defaults() | {"weight_decay": 0.1, "optimizer": "adamw"}).weight_decay == 0.1


def test_config_fields_strips_the_prefix_and_undoes_log10():
    values = {
        "pg_n": 3,
        "pg_log10_lr": -2.0,
        "pg_log10_p_max": 0.0,
        "pg_log10_p_min": -1.0,
        "pg_log10_q_min": 0.0,
        "pg_row": 5,
        "other": "x",
    }
    fields = config_fields(values, "pg_", skip=("pg_row",), off_at_zero=("pg_log10_p_min", "pg_log10_q_min"))
    assert fields == {"n": 3, "lr": 0.01, "p_max": 1.0, "p_min": 0.1, "q_min": 0.0, "other": "x"}
    assert list(fields) == ["n", "lr", "p_max", "p_min", "q_min", "other"]  # the controls' order
    assert config_fields({"pg_log10_x": 0.5}, "pg_") == {"x": pytest.approx(3.16227766)}  # 10^0.5 = √10
    assert config_fields({"pg_log10_x": 0.5}, "pg_", off_at_zero=("pg_log10_x",)) == {"x": 0.0}  # v ≥ 0: off
