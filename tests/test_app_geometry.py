"""AppTest of the Feature geometry and Phase diagram pages: render, Step, presets, URL state and bad input."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.apptest import run_page

TIMEOUT = 300
SMALL_GEO = {"geo_n_features": "20", "geo_n_hidden": "4", "geo_n_instances": "6", "geo_batch_size": "128"}
SMALL_PHASE = {"phase_n_importance": "5", "phase_n_density": "5", "phase_seeds": "2"}


def _page(name: str, query: dict | None = None) -> AppTest:
    return run_page(name, query, TIMEOUT)


def _caption(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def _n_charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


# ------------------------------------------------------------------------------------------ feature geometry


def test_geometry_default_render_and_step():
    at = _page("geometry")
    assert not at.exception and not at.error
    cfg = at.session_state["geo"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.n_instances, cfg.model) == (100, 10, 24, "relu_output")
    assert "step **0** / 10,000" in _caption(at)
    at.button(key="geo_step").click().run()
    assert not at.exception
    assert "step **100** / 10,000" in _caption(at)
    assert _n_charts(at) >= 4  # dims per feature, D_i scatter, the instance's polytopes, the ideal points
    assert any("Export" in e.label for e in at.expander)


def test_geometry_url_state_and_out_of_range_instance():
    at = _page("geometry", {**SMALL_GEO, "geo_instance": "30"})
    assert not at.exception
    cfg = at.session_state["geo"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.n_instances) == (20, 4, 6)
    assert any("Instance 30 does not exist" in i.value for i in at.info)


def test_geometry_bad_url_and_invalid_combination():
    at = _page("geometry", {**SMALL_GEO, "geo_n_hidden": "abc", "geo_bogus": "1", "geo_schedule": "warm"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "geo_n_hidden=abc" in warnings and "geo_bogus" in warnings and "geo_schedule=warm" in warnings
    at.button(key="geo_step").click().run()
    at.slider(key="geo_log10_p_max").set_value(-3.0).run()  # below p_min: invalid
    assert not at.exception
    assert any("p_min" in e.value for e in at.error)
    assert at.session_state["geo"]["trainer"].step == 100


def test_geometry_preset_and_ideal_viewer():
    at = _page("geometry", SMALL_GEO)
    at.selectbox(key="geo_preset").select("GPU: 200 features → 20 dims, 30 sparsities").run()
    assert not at.exception and not at.error
    cfg = at.session_state["geo"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.n_instances) == (200, 20, 30)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Thomson energy"] == "6.8819"  # regular pentagon: 5 (1/(2 sin 36°) + 1/(2 sin 72°))
    assert metrics["Min coherence found"] == "0.8090"  # 5 lines in the plane, 36° apart: cos 36°
    at.slider(key="geo_ideal_d").set_value(3).run()
    at.slider(key="geo_ideal_n").set_value(4).run()
    metrics = {m.label: m.value for m in at.metric}
    assert not at.exception and metrics["Smallest angle, Thomson points"] == "109.47°"  # tetrahedron
    at.slider(key="geo_ideal_d").set_value(5).run()
    assert not at.exception
    assert any("no drawing above 3 dimensions" in c.value for c in at.caption)


# --------------------------------------------------------------------------------------------- phase diagram


def test_phase_default_render_and_step():
    at = _page("phase")
    assert not at.exception and not at.error
    cfg = at.session_state["phase"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.n_importance, cfg.n_density) == (2, 1, 20, 20)
    at.button(key="phase_step").click().run()
    assert not at.exception
    assert "step **100** / 1,500" in _caption(at)
    labels = [m.label for m in at.metric]
    assert "Agreement with the exact phases" in labels
    assert _n_charts(at) >= 2  # the diagram and the inspected cell's losses


def test_phase_three_in_two_and_cell_outside_grid():
    at = _page("phase", {**SMALL_PHASE, "phase_setup": "n3_m2", "phase_row": "30"})
    assert not at.exception and not at.error
    cfg = at.session_state["phase"]["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.seeds) == (3, 2, 2)
    assert any("outside this 5 × 5 grid" in i.value for i in at.info)
    assert any("No closed form" in c.value for c in at.caption)
    at.button(key="phase_step").click().run()
    assert not at.exception
    assert _n_charts(at) >= 3  # diagram, losses, feature directions of the cell's seeds


def test_phase_bad_url_invalid_combination_and_preset():
    at = _page("phase", {**SMALL_PHASE, "phase_setup": "n9_m1", "phase_seeds": "100", "zzz": "1"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "phase_setup=n9_m1" in warnings and "phase_seeds=100" in warnings and "zzz" in warnings
    at.button(key="phase_step").click().run()
    at.slider(key="phase_log10_p_max").set_value(-2.5).run()  # below p_min = 10^-2: invalid
    assert not at.exception
    assert any("p_min" in e.value for e in at.error)
    assert at.session_state["phase"]["trainer"].step == 100
    at.selectbox(key="phase_preset").select("Quick look: n = 2, m = 1, 10 × 10").run()
    assert not at.exception and not at.error
    cfg = at.session_state["phase"]["trainer"].cfg
    assert (cfg.n_importance, cfg.n_density, cfg.steps) == (10, 10, 1000)
