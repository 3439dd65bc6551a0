"""AppTest of the Computation page: both toys render, step, take presets and URL parameters, survive bad input."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.apptest import run_page

TIMEOUT = 180
SMALL = {
    "cc_n_features": "20",
    "cc_d_embed": "100",
    "cc_d_mlp": "10",
    "cc_log10_p": "-1",
    "cc_batch_size": "256",
    "cc_steps": "400",
    "cc_sweep_points": "2",
    "uand_n_inputs": "6",
    "uand_d_min": "4",
    "uand_d_max": "16",
    "uand_n_instances": "2",
    "uand_batch_size": "128",
    "uand_steps": "300",
    "uand_eval_cases": "4",
}


def _page(query: dict | None = None) -> AppTest:
    return run_page("computation", {**SMALL, **(query or {})}, TIMEOUT)


def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_page_renders_both_toys():
    at = _page()
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["Compressed computation", "Universal AND"]
    cc, sweep, uand = (at.session_state[k]["trainer"] for k in ("cc", "cc_sweep", "uand"))
    assert (cc.cfg.n_features, cc.cfg.mixing, cc.cfg.n_instances) == (20, "compare", 2)
    assert sweep.cfg.mixing == "random" and sweep.cfg.n_instances == 2
    assert uand.cfg.n_inputs == 6 and uand.cfg.n_gates == 15
    assert "step **0** / 400" in _captions(at)


def test_steps_advance_each_trainer_and_exports_appear():
    at = _page()
    at.button(key="cc_step").click().run()
    at.button(key="uand_step").click().run()
    assert not at.exception and not at.error
    assert at.session_state["cc"]["trainer"].step == 100
    assert at.session_state["uand"]["trainer"].step == 100
    assert at.session_state["cc_sweep"]["trainer"].step == 0
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("CSV") >= 9 and "Snapshot (.npz)" in labels
    # paused: the held-out table carries the exact sparse limit, and L/p is drawn against the evaluation p
    table = next(d.value for d in at.dataframe if "p → 0" in d.value.columns)
    assert len(table) == 2 and (table["p → 0"] > 0).all()
    assert any("L/p against the evaluation feature probability" in str(c.proto.spec) for c in at.get("vega_lite_chart"))


def test_play_then_pause():
    at = _page({"uand_steps": "50000"})  # a budget one tick cannot finish, however fast the machine
    at.button(key="uand_play").click().run()
    assert at.session_state["uand"]["playing"] and not at.exception
    at.button(key="uand_pause").click().run()
    assert not at.session_state["uand"]["playing"]


def test_preset_loads_published_settings():
    at = _page()
    at.selectbox(key="cc_preset").select("Published: clean labels only").run()
    assert not at.exception and not at.error
    cfg = at.session_state["cc"]["trainer"].cfg
    assert (cfg.n_features, cfg.d_embed, cfg.d_mlp, cfg.mixing, cfg.steps, cfg.lr) == (
        100,
        1000,
        50,
        "clean",
        10_000,
        3e-3,
    )
    assert abs(cfg.p - 0.01) < 1e-12


def test_bad_url_parameters_warn_and_fall_back():
    at = _page({"cc_d_mlp": "abc", "uand_n_active": "99", "cc_mixing": "nope", "bogus": "1"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "cc_d_mlp=abc" in warnings and "uand_n_active=99" in warnings and "cc_mixing=nope" in warnings
    assert "bogus" in warnings
    assert at.session_state["cc"]["trainer"].cfg.d_mlp == 50


def test_invalid_combination_errors_and_keeps_last_model():
    at = _page()
    at.button(key="uand_step").click().run()
    at.slider(key="uand_d_min").set_value(32).run()  # above d_max = 16
    assert not at.exception
    assert any("d_min=32 must not exceed d_max=16" in e.value for e in at.error)
    assert at.session_state["uand"]["trainer"].step == 100
    at.slider(key="uand_n_active").set_value(5).run()  # 6 inputs leave room for at most 4 on
    assert any("n_active=5" in e.value for e in at.error)


def test_default_settings_render():
    at = run_page("computation", timeout=TIMEOUT)
    assert not at.exception and not at.error
    cfg = at.session_state["cc"]["trainer"].cfg
    assert (cfg.n_features, cfg.d_embed, cfg.d_mlp, cfg.batch_size) == (100, 1000, 50, 2048)


def test_uand_tab_shows_the_accounting_against_naive_and_newgas_classes():
    at = _page()
    at.button(key="uand_step").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "trained beats naive" in d.value.columns)
    assert list(table["d"]) == [4, 16] and list(table["naive"]) == [4, 15]  # naive: min(d, 15 gates)
    assert table["trained beats naive"].iloc[-1].startswith("—")  # d = 16 ≥ 15 gates: naive computes all
    classes = next(d.value for d in at.dataframe if "share of neurons" in d.value.columns)
    assert list(classes["class"]) == ["A", "B1", "B2", "C"] and abs(classes["share of neurons"].sum() - 1) < 0.01
    assert any("Newgas's circuit" in h.value for h in at.subheader)
    specs = " ".join(str(c.proto.spec) for c in at.get("vega_lite_chart"))
    assert "Honest accounting on held-out inputs" in specs and "Truth table per neuron class" in specs


def test_discrete_labels_draw_their_own_naive_baseline():
    """With ±1 feature values the naive baseline is (1 − d/n)·E[ReLU(v)²] = (1 − 50/100)/2 = 0.25, not the
    continuous law's (1 − d/n)/6 ≈ 0.0833: the page draws the law the model trains on."""
    at = run_page("computation", {"cc_labels": "discrete", "cc_n_instances": "1", "cc_mixing": "embedding"}, 240)
    assert not at.exception and not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "L/p = 0.2500" in captions, captions


def test_a_bce_trained_uand_says_its_sigmoid_readout_is_not_computation():
    """With BCE the gates are read through a sigmoid, which computes an AND of x_i + x_j by itself; the page says a
    "beats naive" there does not show computation in superposition (and says nothing of the kind for MSE)."""
    said = "a threshold the naive circuit above does not get"
    at = _page({"uand_loss": "bce"})
    assert not at.exception and any(said in w.value for w in at.warning)
    at = _page()
    assert not any(said in w.value for w in at.warning)
