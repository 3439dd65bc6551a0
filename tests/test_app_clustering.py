"""AppTest of the Circuit clustering page: renders, trains through both stages, analyses, survives bad input."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import run_page

TIMEOUT = 240
# a small pipeline: 300 + 300 steps, so Step +500 twice runs both stages to the end
SMALL = {
    "clu_n_circuits": "4",
    "clu_circuit_size": "3",
    "clu_d_model": "12",
    "clu_n_neurons": "24",
    "clu_steps": "300",
    "clu_n_latents": "24",
    "clu_tc_steps": "300",
    "clu_log10_n_samples": "4",
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _page(query: dict | None = None) -> AppTest:
    return run_page("clustering", query, TIMEOUT)


def _caption(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_default_render():
    at = _page()
    assert not at.exception and not at.error
    assert "step **0** / 6,000" in _caption(at)
    assert any("CPU" in i.value for i in at.info)  # the note of what is sized for the CPU
    assert at.session_state["clu"]["trainer"].cfg.circuits.n_circuits == 8


def test_steps_through_both_stages_then_analyses():
    at = _page(SMALL)
    at.button(key="clu_step").click().run()
    assert not at.exception
    assert at.session_state["clu"]["trainer"].run.trainer.stage == "transcoder"
    at.button(key="clu_step").click().run()
    assert not at.exception and not at.error
    assert at.session_state["clu"]["trainer"].done
    labels = [m.label for m in at.metric]
    assert "ARI" in labels and "clusters found / true" in labels
    key, analysis = at.session_state["clu_analysis"]
    assert set(analysis.scores) == {"average", "components", "spectral", "agglomerative"}
    # changing only the clustering re-analyses without retraining
    at.selectbox(key="clu_method").select("spectral").run()
    assert not at.exception
    assert at.session_state["clu"]["trainer"].done
    assert at.session_state["clu_analysis"][0] != key


def test_url_parameters_set_controls():
    at = _page({"clu_n_circuits": "5", "clu_sparsity": "topk", "clu_k": "3"})
    assert not at.exception
    cfg = at.session_state["clu"]["trainer"].cfg
    assert cfg.circuits.n_circuits == 5 and cfg.transcoder.sparsity == "topk" and cfg.transcoder.k == 3


def test_broken_url_gives_messages_not_crash():
    at = _page({"clu_n_circuits": "abc", "clu_bogus": "1", "clu_method": "kmeans", "clu_threshold": "7"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    for part in ("clu_n_circuits=abc", "clu_bogus", "clu_method=kmeans", "clu_threshold=7"):
        assert part in warnings
    assert at.session_state["clu"]["trainer"].cfg.circuits.n_circuits == 8


def test_invalid_combination_keeps_last_pipeline():
    at = _page({"clu_sparsity": "topk", "clu_n_latents": "8"})
    at.button(key="clu_step").click().run()
    at.slider(key="clu_k").set_value(20).run()  # k above the number of latents
    assert not at.exception
    assert any("k=20" in e.value for e in at.error)
    assert at.session_state["clu"]["trainer"].step == 500


@pytest.mark.parametrize("preset", ["TopK transcoder (k = 4)", "Pairwise ANDs", "16 circuits, rarer"])
def test_presets_build(preset):
    at = _page()
    at.selectbox(key="clu_preset").select(preset).run()
    assert not at.exception and not at.error


def test_cpu_caps_are_applied_and_named():
    at = _page({"clu_steps": "20000", "clu_log10_n_samples": "6"})
    assert not at.exception
    info = " ".join(i.value for i in at.info)
    assert "model steps 20,000 → 5,000" in info and "samples 1,000,000 → 100,000" in info
    assert at.session_state["clu"]["trainer"].cfg.circuits.steps == 5000
