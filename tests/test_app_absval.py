"""AppTest for the absolute-value page: render, Step, compare variants, presets and bad input."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from charts.neurons import neuron_chart, neuron_frame, output_loss_chart, output_loss_frame
from tests.apptest import run_page
from tests.specs import data_values

TIMEOUT = 180


def _page(query: dict | None = None) -> AppTest:
    return run_page("absval", query, TIMEOUT)


def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def _charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def test_default_render_and_step():
    at = _page()
    assert not at.exception and not at.error
    assert "step **0** / 3,000" in _captions(at)
    at.button(key="abs_step").click().run()
    assert not at.exception
    assert "step **100** / 3,000" in _captions(at)
    assert len(_charts(at)) >= 3  # loss, neurons, loss per output
    summary = at.dataframe[0].value
    assert {"held-out loss", "best linear loss", "monosemantic neurons"} <= set(summary.columns)
    assert len(summary) == 6


def test_compare_preset_trains_two_variants():
    at = _page()
    at.selectbox(key="abs_preset").select("ReLU vs GELU on |x| (3 features, 6 neurons)").run()
    at.button(key="abs_step").click().run()
    assert not at.exception and not at.error
    summary = at.dataframe[0].value
    assert set(summary["variant"]) == {"A", "B"}
    assert set(summary["activation"]) == {"relu", "gelu"}
    assert any("Variant B: gelu" in h.value for h in at.subheader)


def test_every_preset_builds_a_model():
    from ui.abs_controls import PRESETS

    at = _page()
    for name in PRESETS:
        at.selectbox(key="abs_preset").select(name).run()
        assert not at.exception, name
        assert not at.error, (name, [e.value for e in at.error])


def test_bad_url_parameter_is_named_and_default_used():
    at = _page({"abs_n_hidden": "-4", "abs_target": "xor", "nonsense": "1"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "abs_n_hidden=-4" in warnings and "abs_target=xor" in warnings and "`nonsense`" in warnings
    assert at.session_state["abs"]["trainer"].cfg.n_hidden == 6


def test_invalid_combination_explains_and_keeps_the_model():
    at = _page()
    at.button(key="abs_step").click().run()
    at.selectbox(key="abs_target").select("max").run()  # 3 features cannot make pairs
    assert not at.exception
    assert any("even" in e.value for e in at.error)
    assert at.session_state["abs"]["trainer"].step == 100  # the last valid model is kept


def test_neuron_and_output_charts_carry_their_data():
    W = np.random.default_rng(0).normal(size=(2, 4, 3))
    df = neuron_frame(W, np.arange(2), ["a", "b"], np.array([1.0, 0.8, 0.64]), np.ones((2, 4)))
    assert len(df) == 2 * 4 * 3 and set(df["rank"]) == {0, 1, 2, 3}
    spec = neuron_chart(df).to_dict()
    assert len(data_values(spec)) == 24
    out = output_loss_frame(np.ones((2, 3)), np.full((2, 3), 2.0), np.arange(2), ["a", "b"])
    assert len(out) == 12 and set(out["model"]) == {"trained", "best linear"}
    assert len(data_values(output_loss_chart(out).to_dict())) == 12


def test_a_big_model_is_evaluated_within_the_budget_and_says_so():
    """The issue's URL (200 features, 40 instances) used to run 40 least-squares baselines on 20,000 samples before
    the first paint; now the held-out samples fit the work budget and the caption says how many."""
    at = _page({"abs_n_features": "200", "abs_n_instances": "40"})
    assert not at.exception and not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "1,000 samples, not the usual 20,000" in captions
