"""The governor in the pages: the links that took a shared server down are refused before anything is built, with
a message naming the limit and the knobs; a refused config leaves the visitor's model as it was; two visitors of
one config share one run."""

from __future__ import annotations

import pytest

from tests.apptest import run_page

# The links of issue 13 that reached 4–8 GB or ran for minutes on a 2-core server, each with the trainer keys it
# would have built.
HOSTILE = [
    (
        "superposition",
        "n_features=100&n_hidden=32&n_instances=4000&batch_size=8192&restarts=16",
        ["tms"],
    ),
    (
        "phase",
        "phase_setup=n3_m2&phase_n_importance=40&phase_n_density=40&phase_seeds=16&phase_value_samples=256",
        ["phase"],
    ),
    (
        "absval",
        "abs_n_features=200&abs_n_hidden=200&abs_n_instances=40&abs_batch_size=4096&abs_compare_activation=gelu",
        ["abs"],
    ),
    (
        "computation",
        "cc_n_features=500&cc_d_embed=4000&cc_d_mlp=500&cc_n_instances=16&cc_batch_size=8192",
        ["cc", "cc_sweep"],
    ),
    ("computation", "uand_n_inputs=128&uand_d_max=2048", ["uand"]),
]
LIMITS = ("SUPERPOSITION_SESSION_MB", "SUPERPOSITION_SERVER_MB", "SUPERPOSITION_MEMORY_MB", "SUPERPOSITION_STEP_GFLOP")


def _query(q: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in q.split("&"))


@pytest.mark.parametrize(("page", "query", "keys"), HOSTILE, ids=[f"{p}-{k[0]}" for p, _, k in HOSTILE])
def test_hostile_links_are_refused_before_anything_is_built(page, query, keys):
    at = run_page(page, _query(query))
    assert not at.exception
    refusals = [w.value for w in at.warning if any(limit in w.value for limit in LIMITS)]
    assert len(refusals) == len(keys)
    for text in refusals:
        assert "Lower " in text  # names the knobs to turn
    for key in keys:
        assert at.session_state[key]["trainer"] is None


def test_a_refused_config_keeps_the_model_the_visitor_had():
    at = run_page("superposition")
    at.button(key="tms_step").click().run()
    assert at.session_state["tms"]["trainer"].step == 100
    for key, value in (("n_features", 100), ("n_instances", 4000), ("batch_size", 8192)):
        at.slider(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert any("SUPERPOSITION_" in w.value and "the one you had" in w.value for w in at.warning)
    viewer = at.session_state["tms"]["trainer"]
    assert viewer.step == 100 and viewer.cfg.n_features == 5  # still the earlier model, where it was
    at.button(key="tms_step").click().run()
    assert at.session_state["tms"]["trainer"].step == 200


def test_two_visitors_of_one_config_share_one_run():
    a = run_page("superposition")
    b = run_page("superposition")
    va, vb = a.session_state["tms"]["trainer"], b.session_state["tms"]["trainer"]
    assert va.run is vb.run and va is not vb
    a.button(key="tms_step").click().run()
    run = va.run
    trained = run.trainer.step
    b.button(key="tms_step").click().run()  # replays what a trained: no new step of the trainer
    assert b.session_state["tms"]["trainer"].step == trained == run.trainer.step == 100
    b.button(key="tms_reset").click().run()  # b's reset moves only b's head
    assert b.session_state["tms"]["trainer"].step == 0 and a.session_state["tms"]["trainer"].step == 100


def test_budgets_come_from_the_secrets_file():
    from streamlit.testing.v1 import AppTest

    from tests.apptest import ROOT

    at = AppTest.from_file(str(ROOT / "pages" / "superposition.py"), default_timeout=120)
    at.secrets["governor"] = {"session_mb": 1}  # as [governor] session_mb = 1 in .streamlit/secrets.toml
    at.run()
    assert not at.exception
    assert any("SUPERPOSITION_SESSION_MB" in w.value and "1 MB" in w.value for w in at.warning)
    assert at.session_state["tms"]["trainer"] is None
