"""URL parameters given twice (``?n_features=6&n_features=7``): the page says so, uses the last value and keeps
the rest of the URL (Streamlit alone dropped a repeated slider key from the URL and drew the default, silently;
all of the URL went when that key was the only one)."""

from __future__ import annotations

import json

import pytest

from tests.apptest import run_page

SMALL = {"n_instances": "2", "steps": "200", "n_hidden": "3"}


@pytest.mark.parametrize("others", [SMALL, {}])
def test_repeated_url_key_is_reported_and_its_last_value_used(others):
    at = run_page("superposition", {"n_features": ["6", "7"], **others}, timeout=300)
    assert not at.exception
    said = [w.value for w in at.warning if "n_features" in w.value]
    assert len(said) == 1 and "2 times" in said[0] and "`6, 7`" in said[0] and "the last, `7`, is used" in said[0]
    assert at.slider(key="n_features").value == 7
    assert at.query_params["n_features"] == "7"  # still in the URL, once
    for k, v in others.items():
        assert at.query_params[k] == v and at.slider(key=k).value == int(v)
    at.run()
    assert not [w for w in at.warning if "n_features" in w.value]  # said once
    assert at.slider(key="n_features").value == 7


def test_summary_table_fits_the_page():
    """Its headers shortened, one model's settings left to the sidebar: the table cut at "represent…" in a 2/5
    column."""
    at = run_page("superposition", {**SMALL, "model": "relu_hidden"}, timeout=300)
    assert not at.exception
    (table,) = [d for d in at.dataframe if "instance" in d.value.columns]
    config = json.loads(table.proto.columns)
    labels = [c.get("label") for c in config.values() if c.get("label")]
    assert labels and all(len(label) <= 14 for label in labels)
    assert config["activation"] == {"hidden": True} and config["dropout"] == {"hidden": True}  # in the sidebar


def test_pair_summary_keeps_what_tells_the_variants_apart():
    at = run_page("superposition", {**SMALL, "compare_activation": "gelu"}, timeout=300)
    assert not at.exception
    (table,) = [d for d in at.dataframe if "instance" in d.value.columns]
    assert "activation" not in json.loads(table.proto.columns)
