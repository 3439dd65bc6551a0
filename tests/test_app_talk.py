"""Talk mode and the demo gallery: a link names a preset and plays it, large, with the controls hidden.

The layout itself (sidebar hidden, chart width, text size at 1280×720) is checked in the browser suite
(``tests/test_browser.py``); here, under AppTest, what a link does to the session.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import run_page
from tests.test_published import assert_pentagon
from toys import TMSConfig, make_tms_trainer
from ui.controls import preset_slugs
from ui.talk import DEMOS, FONT_PX

TIMEOUT = 240
# ui.live's keys, one per model on a page
SLOTS = ("tms", "abs", "cc", "cc_sweep", "uand", "geo", "phase", "clu", "sae", "deep")
ROOT = Path(__file__).resolve().parents[1]
PRESETS = {  # page -> every preset dict its controls offer
    "superposition": ("ui.tms_controls", ("PRESETS",)),
    "absval": ("ui.abs_controls", ("PRESETS",)),
    "computation": ("ui.cc_controls", ("CC_PRESETS", "UAND_PRESETS")),
    "geometry": ("ui.geometry_controls", ("PRESETS",)),
    "phase": ("ui.phase_controls", ("PRESETS",)),
    "clustering": ("ui.clustering_controls", ("PRESETS",)),
    "decomposition": ("ui.decomp_controls", ("PRESETS",)),
    "cislab": ("ui.deep_controls", ("PRESETS",)),
}


def _slugs(page: str) -> set[str]:
    module, names = PRESETS[page]
    m = importlib.import_module(module)
    return {slug for name in names for slug in preset_slugs(getattr(m, name))}


def _texts(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(w.value for w in at.warning)


def test_every_demo_names_a_page_and_one_of_its_presets_and_has_a_thumbnail():
    assert len({d.slug for d in DEMOS}) == len(DEMOS) == 8
    for demo in DEMOS:
        assert (ROOT / "pages" / f"{demo.page}.py").is_file(), demo
        assert demo.preset in _slugs(demo.page), (demo, sorted(_slugs(demo.page)))
        assert (ROOT / demo.thumbnail).is_file(), f"{demo.thumbnail}: run python docs/gallery/make.py {demo.slug}"


def test_a_talk_link_loads_its_preset_plays_and_hides_the_controls():
    at = run_page("superposition", {"talk": "1", "preset": "pentagon"}, TIMEOUT)
    assert not at.exception and not at.error and not at.warning  # talk and preset are not "unknown controls"
    state = at.session_state["tms"]
    cfg = state["trainer"].cfg
    assert (cfg.n_features, cfg.n_hidden, cfg.n_instances, cfg.restarts) == (5, 2, 4, 4)
    assert cfg.p_max == cfg.p_min == pytest.approx(10**-1.3)
    assert state["playing"]  # Play pressed by itself
    assert "## Five features in two dimensions" in _texts(at)
    style = " ".join(h.proto.body for h in at.get("html"))
    assert 'section[data-testid="stSidebar"]' in style and "display: none" in style
    assert f"font-size: {FONT_PX}px" in style
    assert "tms_step" not in {b.key for b in at.button}  # Play / Pause and Reset only


def test_without_talk_a_preset_link_loads_the_preset_but_does_not_play():
    at = run_page("superposition", {"preset": "pentagon"}, TIMEOUT)
    assert not at.exception and not at.warning
    assert at.session_state["tms"]["trainer"].cfg.restarts == 4
    assert not at.session_state["tms"]["playing"]
    assert not at.get("html")  # no talk styles
    assert any(t.value == "Superposition" for t in at.title)


def test_values_in_the_link_win_over_its_preset():
    at = run_page("superposition", {"talk": "1", "preset": "pentagon", "n_instances": "2"}, TIMEOUT)
    cfg = at.session_state["tms"]["trainer"].cfg
    assert (cfg.n_instances, cfg.restarts) == (2, 4)


def test_the_preset_is_loaded_on_arrival_only():
    """Once there, the visitor's own changes stay: a rerun does not load the link's preset again."""
    at = run_page("superposition", {"talk": "1", "preset": "pentagon"}, TIMEOUT)
    at.slider(key="n_instances").set_value(3).run()
    assert not at.exception
    cfg = at.session_state["tms"]["trainer"].cfg
    assert (cfg.n_instances, cfg.restarts) == (3, 4)


def test_an_unknown_preset_is_reported_and_escaped():
    at = run_page("superposition", {"talk": "1", "preset": "pent`[x](https://evil.example)"}, TIMEOUT)
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "names no preset of this page" in warned and "pentagon" in warned
    assert "](https://evil.example)" in warned and "``" in warned  # inside a code span, not a link
    cfg = at.session_state["tms"]["trainer"].cfg
    assert (cfg.n_instances, cfg.restarts, cfg.p_max) == (TMSConfig.n_instances, 1, TMSConfig.p_max)  # the defaults


def test_picking_a_preset_puts_its_name_in_the_url():
    at = run_page("superposition", None, TIMEOUT)
    at.selectbox(key="tms_preset").select("Anthropic intro: 5→2 across 10 sparsities").run()
    assert at.query_params["preset"] in ("anthropic-intro", ["anthropic-intro"])


@pytest.mark.parametrize("demo", DEMOS, ids=[d.slug for d in DEMOS])
def test_every_demo_opens_in_talk_mode(demo):
    at = run_page(demo.page, demo.query, TIMEOUT)
    assert not at.exception, at.exception
    assert not at.error and not at.warning, ([e.value for e in at.error], [w.value for w in at.warning])
    assert f"## {demo.title}" in _texts(at) and demo.look_for in _texts(at)
    playing = {k: at.session_state[k]["playing"] for k in SLOTS if k in at.session_state}
    assert list(playing.values()) == [True], playing  # one model, playing


def test_the_computation_page_shows_the_model_its_preset_names():
    at = run_page("computation", {"talk": "1", "preset": "small"}, TIMEOUT)
    assert "uand" in at.session_state and "cc" not in at.session_state
    at = run_page("computation", {"talk": "1", "preset": "quick-cpu-demo"}, TIMEOUT)
    assert "cc" in at.session_state and "uand" not in at.session_state
    assert at.session_state["cc"]["trainer"].cfg.steps == 3000


def test_the_pentagon_preset_forms_a_pentagon_in_every_instance():
    """The preset as the page builds it: 4 instances, each the best of 4 seeds, at 1−S = 0.05; by step 3,000 every
    instance shows the published pentagon (all norms > 0.9, neighbours 72° ± 5° apart; tests/test_published.py)."""
    from ui.tms_controls import PRESETS, SPECS, tms_config

    values = {s.key: s.default for s in SPECS} | PRESETS[preset_slugs(PRESETS)["pentagon"]]
    cfg = tms_config(values).replace(device="cpu")
    trainer = make_tms_trainer(cfg)
    trainer.advance(3000)
    W = trainer.snapshot()["W"]
    assert W.shape[0] == 4
    for i in range(4):
        assert_pentagon(W[i])
    assert np.isfinite(W).all()


def test_home_shows_a_card_per_demo_linking_to_talk_mode():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    links = at.get("page_link")
    talk = [link for link in links if link.proto.label == "Open in talk mode"]
    assert len(talk) == len(DEMOS)
    assert len(at.get("image")) == len(DEMOS)  # every thumbnail is there
