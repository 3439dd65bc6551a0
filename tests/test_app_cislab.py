"""AppTest of the CIS lab page: renders, trains a small deep residual MLP to the end and counts its functions as
``toys.compute.deep`` does, refuses bad settings keeping the model, and loads a preset named in the URL."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import run_page
from toys.compute.deep import deep_summary
from ui.controls import preset_slugs
from ui.deep_controls import PRESETS

TIMEOUT = 120
SMALL = {
    "deep_n_features": "20",
    "deep_d_embed": "40",
    "deep_d_mlp": "8",
    "deep_steps": "200",
    "deep_batch_size": "256",
    "deep_n_instances": "2",
    "deep_log10_feature_probability": "-1",
    "deep_log10_p_min": "-1.5",
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _page(query: dict | None = None) -> AppTest:
    return run_page("cislab", query, TIMEOUT)


def test_default_renders():
    at = _page()
    assert not at.exception and not at.error
    assert "step **0** / 3,000" in " ".join(c.value for c in at.caption)
    assert at.session_state["deep"]["trainer"].cfg.target == "relu"
    assert "computed by trained" in {m.label for m in at.metric}


def test_small_model_trains_to_the_end_and_counts_as_the_library_does():
    at = _page(SMALL)
    at.button(key="deep_step").click().run()
    assert not at.exception and not at.error
    trainer = at.session_state["deep"]["trainer"]
    assert trainer.done
    snap = at.session_state["deep"]["snap"]
    _, acc = at.session_state["deep_accounting"]
    assert acc["step"] == snap.step == 200
    table = at.dataframe[0].value
    direct = deep_summary(snap)  # the library's own accounting, computed afresh
    assert list(table["trained computed"]) == direct["trained_functions"]
    assert list(table["naive computed"]) == [direct["naive_functions"]] * 2
    assert list(table["beats naive"]) == direct["beats_naive"]
    assert [round(v, 4) for v in table["trained loss / affine"]] == direct["trained_error"]
    assert len(at.get("vega_lite_chart")) == 3  # per-function loss, computed against p, loss
    captions = " ".join(c.value for c in at.caption)
    assert "**computed**" in captions and "No hand-made construction is known" in captions


@pytest.mark.parametrize(
    "bad,says",
    [
        ({"deep_target": "maxabs", "deep_n_features": 21}, "n_features=21 must be even"),
        ({"deep_d_embed": 10}, "d_embed"),
    ],
)
def test_bad_settings_are_refused_and_the_model_kept(bad, says):
    at = _page(SMALL)
    at.button(key="deep_step").click().run()
    trainer = at.session_state["deep"]["trainer"]
    for key, value in bad.items():
        if key == "deep_target":
            at.selectbox(key=key).select(value)
        else:
            at.slider(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert any(says in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["deep"]["trainer"] is trainer and trainer.done


def test_a_preset_named_in_the_url_loads():
    slugs = preset_slugs(PRESETS)
    slug = next(s for s, name in slugs.items() if name.startswith("Max-abs"))
    at = _page({"preset": slug})
    assert not at.exception and not at.error
    cfg = at.session_state["deep"]["trainer"].cfg
    assert (cfg.target, cfg.n_layers, cfg.d_mlp, cfg.n_features) == ("maxabs", 2, 12, 100)
    assert cfg.feature_probability == pytest.approx(0.01) and cfg.eval_present == 2000
    assert any("What to look for" in c.value for c in at.sidebar.caption)


def test_every_preset_is_admitted_and_renders():
    for slug in preset_slugs(PRESETS):
        at = _page({"preset": slug})
        assert not at.exception and not at.error, slug
        assert not at.warning, (slug, [w.value for w in at.warning])
        assert at.session_state["deep"]["trainer"] is not None
