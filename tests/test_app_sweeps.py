"""The Phase diagram, Feature geometry and CIS lab pages draw a sweep's result (python -m toys sweep) that a visitor
opened, and refuse another toy's (the upload itself is driven in the browser test)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import ROOT
from toys.sweep.run import run_sweep
from toys.sweep.spec import parse_spec
from toys.sweep.store import read_results

SPECS = {
    "phase": {"toy": "phase", "config": {"n_importance": 4, "n_density": 3, "seeds": 1, "steps": 300}, "seeds": 3},
    "tms": {
        "toy": "tms",
        "config": {"n_features": 6, "n_hidden": 2, "n_instances": 5, "steps": 200, "p_min": 0.05},
        "seeds": 2,
    },
    "deep": {"toy": "deep", "config": {"steps": 100, "n_instances": 3}, "seeds": 2},
}
PAGES = {"phase": ("phase", "phase"), "tms": ("geometry", "geo"), "deep": ("cislab", "deep")}


def app_test(name):
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=180)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = {}
    for toy, spec in SPECS.items():
        d = tmp_path_factory.mktemp(toy)
        report = run_sweep(parse_spec(spec), d, in_process=True, stream=None)
        assert report["failed"] == []
        out[toy] = read_results(d / "results.parquet", toy=toy)
    return out


def opened(toy, results):
    page, key = PAGES[toy]
    at = app_test(page)
    df, info = results[toy]
    at.session_state[f"{key}_sweep"] = ("ok", df, info, "results.parquet")
    at.run(timeout=120)
    assert not at.exception, at.exception
    return at


def test_phase_page_draws_a_sweep(results):
    at = opened("phase", results)
    markdown = " ".join(m.value for m in at.markdown)
    assert "Cells per phase" in markdown
    metrics = {m.label: m.value for m in at.metric}
    assert "Agreement with the exact phases" in metrics  # n = 2, m = 1: the closed form applies
    counts = at.dataframe[0].value
    assert int(counts["cells"].sum()) == 4 * 3


def test_geometry_page_draws_a_sweep(results):
    at = opened("tms", results)
    assert any("Sweep" in m.value and "6 features" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    assert len(table) == 5 and (table["seeds"] == 2).all()


def test_cislab_page_draws_a_sweep(results):
    at = opened("deep", results)
    metrics = {m.label: m.value for m in at.metric}
    wins = metrics["Instances where trained beats naive"]
    assert wins.endswith("of 6")


def test_an_error_shows_and_the_page_still_trains(results):
    at = app_test("phase")
    at.session_state["phase_sweep"] = ("error", "This file was not opened: it is a 'tms' sweep.")
    at.run(timeout=120)
    assert not at.exception
    assert any("not opened" in e.value for e in at.error)
