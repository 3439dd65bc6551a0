"""AppTest: every page renders, and the controls, presets, Step and bad input leave the app running."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.apptest import run_page

TIMEOUT = 180
ROOT = Path(__file__).resolve().parents[1]


def _page(query: dict | None = None) -> AppTest:
    return run_page("superposition", query, TIMEOUT)


def _caption(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_app_landing_renders():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("Superposition Playground" in t.value for t in at.title)
    assert any("Device:" in m.value for m in at.sidebar.markdown)


def test_superposition_default_render():
    at = _page()
    assert not at.exception
    assert not at.error
    assert "step **0** / 10,000" in _caption(at)


def test_step_advances_training():
    at = _page()
    at.button(key="tms_step").click().run()
    assert not at.exception
    assert "step **100** / 10,000" in _caption(at)
    assert "steps/s" in _caption(at)
    fast = "cuda_graph" if torch.cuda.is_available() else "numba"  # the device=auto page picks the device's own
    assert f"{fast} engine" in _caption(at)  # the page trains on the device's fast engine


def test_play_then_pause():
    at = _page()
    at.button(key="tms_play").click().run()
    assert not at.exception
    assert at.session_state["tms"]["playing"]
    at.button(key="tms_pause").click().run()
    assert not at.session_state["tms"]["playing"]


def test_preset_switch_changes_config():
    at = _page()
    at.selectbox(key="tms_preset").select("Decaying importance: 20→5, importance 0.7^i").run()
    assert not at.exception
    cfg = at.session_state["tms"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.importance_decay) == (20, 5, 0.7)
    assert not at.error


@pytest.mark.parametrize(
    "preset", ["Correlated pairs", "Anticorrelated pairs", "Pentagon: 5 features in 2 dims, best of 4 seeds"]
)
def test_other_presets_build(preset):
    at = _page()
    at.selectbox(key="tms_preset").select(preset).run()
    assert not at.exception and not at.error


def test_slider_change_rebuilds_trainer():
    at = _page()
    at.button(key="tms_step").click().run()
    at.slider(key="n_features").set_value(8).run()
    assert not at.exception
    trainer = at.session_state["tms"]["trainer"]
    assert trainer.cfg.n_features == 8 and trainer.step == 0


def test_invalid_combination_keeps_last_model():
    at = _page()
    at.button(key="tms_step").click().run()
    at.slider(key="log10_p_max").set_value(-2.0).run()  # below p_min: invalid
    assert not at.exception
    assert any("p_min" in e.value for e in at.error)
    assert at.session_state["tms"]["trainer"].step == 100  # the earlier model and its progress survive


def test_url_parameters_set_controls():
    at = _page({"n_features": "7", "n_hidden": "3", "model": "relu_hidden"})
    assert not at.exception
    cfg = at.session_state["tms"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.model) == (7, 3, "relu_hidden")


def test_broken_url_gives_messages_not_crash():
    at = _page({"n_features": "abc", "bogus": "1", "model": "nope"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "n_features=abc" in warnings and "bogus" in warnings and "model=nope" in warnings
    assert at.session_state["tms"]["trainer"].cfg.n_features == 5


def test_divergence_pauses_with_message():
    import torch

    at = _page()
    trainer = at.session_state["tms"]["trainer"].run.trainer  # the visitor's viewer of the page's run
    with torch.no_grad():
        trainer.params["W"].fill_(float("nan"))
    at.button(key="tms_step").click().run()
    assert not at.exception
    assert any("diverged" in e.value for e in at.error)
    assert not at.session_state["tms"]["playing"]


def test_privileged_basis_preset_shows_neurons_and_keeps_the_best_seed():
    at = _page()
    at.selectbox(key="tms_preset").select("Privileged basis: 10 features, 5 neurons, importance 0.75^i").run()
    assert not at.exception and not at.error
    trainer = at.session_state["tms"]["trainer"]
    assert trainer.cfg.model == "relu_hidden" and trainer.cfg.restarts == 4
    assert trainer.cfg.p_values == "0.75,0.35,0.15,0.1,0.06,0.02,0.01"
    at.button(key="tms_step").click().run()
    assert not at.exception
    summary = at.dataframe[0].value
    assert {"monosemantic neurons", "polysemantic neurons", "seed kept"} <= set(summary.columns)
    assert len(summary) == 7
    assert any("Neurons" in str(c.proto.spec) for c in at.get("vega_lite_chart"))


def test_compare_variant_trains_relu_and_gelu_side_by_side():
    at = _page()
    at.selectbox(key="tms_preset").select("ReLU vs GELU: 20→5, importance 0.7^i").run()
    at.button(key="tms_step").click().run()
    assert not at.exception and not at.error
    summary = at.dataframe[0].value
    assert set(summary["variant"]) == {"A", "B"} and set(summary["activation"]) == {"relu", "gelu"}
    assert "step **100**" in _caption(at)


def test_bad_probability_list_is_explained():
    at = _page({"p_values": "0.5,abc"})
    assert not at.exception
    assert any("p_values" in e.value for e in at.error)
    at = _page({"compare_activation": "gelu", "model": "linear"})
    assert not at.exception
    assert any("changes nothing: the linear model has no activation" in e.value for e in at.error)
