"""Charts of U-AND's honest accounting and of Newgas's neuron classes (charts.computation)."""

from __future__ import annotations

import numpy as np
import pytest

from charts.computation import (
    ACCOUNTING_MEASURES,
    NAIVE_CIRCUIT,
    NAIVE_COLOR,
    accounting_chart,
    gates_chart,
    gates_frame,
    newgas_chart,
    newgas_class_frame,
    newgas_frame,
)

PAPER = np.array([[0.05, 0.15, 0.15, 0.25], [0.05, 0, 0.15, 0], [0.05, 0.15, 0, 0], [0.05, 0, 0, 0]])


def _results():
    trained = [{"d": 8, "gates": 2, "error_rates": np.array([0.1, 0.3])}, {"d": 32, "gates": 40}]
    made = [{"d": 8, "gates": 10, "error_rates": np.array([0.2, 0.2])}, {"d": 32, "gates": 12, "mean_error": 0.15}]
    naive = [{"d": 8, "gates": 8, "mean_error": 0.22}, {"d": 32, "gates": 32, "mean_error": 0.13}]
    return trained, made, naive


def test_gates_frame_with_naive_replaces_the_gates_equal_d_line_and_carries_errors():
    trained, made, naive = _results()
    df = gates_frame(trained, made, 0, 66, naive=naive, linear_error=0.25)
    assert "gates = d" not in set(df["circuit"])
    nv = df[df["circuit"] == NAIVE_CIRCUIT]
    assert list(nv["gates"]) == [8, 32] and list(nv["error"]) == pytest.approx([0.22, 0.13])
    tr = df[df["circuit"] == "trained"]
    assert tr["error"].iloc[0] == pytest.approx(0.2) and np.isnan(tr["error"].iloc[1])  # no rates given
    assert list(df[df["circuit"] == "hand-made"]["error"]) == pytest.approx([0.2, 0.15])
    assert df[df["circuit"] == "all gates"]["error"].isna().all()
    assert (df[df["circuit"] == "linear readout (no computation)"]["error"] == 0.25).all()


def test_colours_follow_the_circuits_drawn():
    """Each circuit keeps its colour whichever of them a frame holds: the naive circuit red, like its baseline on
    the compressed-computation tab; the old frame (no naive) keeps gates = d red."""
    trained, made, naive = _results()
    old = gates_chart(gates_frame(trained, made, 0, 66)).to_dict()["encoding"]["color"]["scale"]
    assert old["domain"] == ["trained", "hand-made", "linear readout (no computation)", "gates = d", "all gates"]
    assert old["range"][old["domain"].index("gates = d")] == NAIVE_COLOR
    new = accounting_chart(gates_frame(trained, made, 0, 66, naive=naive)).to_dict()
    scale = new["spec"]["encoding"]["color"]["scale"]
    assert scale["range"][scale["domain"].index(NAIVE_CIRCUIT)] == NAIVE_COLOR
    assert new["facet"]["column"]["sort"] == list(ACCOUNTING_MEASURES)
    assert new["resolve"]["scale"]["y"] == "independent"
    assert new["spec"]["encoding"]["x"]["scale"]["domain"] == [8.0, 32.0]


def test_accounting_chart_draws_errors_only_for_circuits_that_have_them():
    trained, made, naive = _results()
    chart = accounting_chart(gates_frame(trained, made, 0, 66, naive=naive, linear_error=0.25))
    data = chart.data
    err = data[data["measure"] == ACCOUNTING_MEASURES[1]]
    assert set(err["circuit"]) == {"trained", "hand-made", NAIVE_CIRCUIT, "linear readout (no computation)"}
    assert len(err) == 1 + 2 + 2 + 2  # trained at d = 32 has no error rates
    assert len(data[data["measure"] == ACCOUNTING_MEASURES[0]]) == 2 * 5


def test_newgas_frame_scales_each_table_by_class_a_on_11():
    measured = PAPER * 2.0
    measured[3] = np.nan  # an empty class is left out of the chart
    df = newgas_frame(measured, PAPER, "trained (d=96)")
    paper = df[df["source"] == "Newgas (2025)"]
    np.testing.assert_allclose(paper["scaled"], PAPER.reshape(-1) / 0.25)
    trained = df[df["source"] == "trained (d=96)"]
    np.testing.assert_allclose(trained["scaled"].iloc[:12], PAPER[:3].reshape(-1) / 0.25)
    assert list(trained["case"].iloc[:4]) == ["00", "01", "10", "11"]
    spec = newgas_chart(df).to_dict()
    assert spec["encoding"]["x"]["sort"] == ["00", "01", "10", "11"]
    assert len(newgas_chart(df).data) == 28


def test_newgas_class_frame_has_a_row_per_class():
    df = newgas_class_frame(np.array([0.2, 0.25, 0.25, 0.3]), np.array([0.1, -0.1, -0.1, 0.05]), np.ones(4), PAPER)
    assert list(df["class"]) == ["A", "B1", "B2", "C"]
    assert list(df["rule's readout sign"]) == ["+", "−", "−", "+"]
    assert list(df["out 11"]) == [0.25, 0, 0, 0]
