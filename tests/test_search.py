"""``python -m toys search``: the quick grids run, every row has the table's fields, ``beats_naive`` follows its
definition, the summary names the best row."""

from __future__ import annotations

import json

import pytest

from toys.cli import main
from toys.compute.search import ROW_FIELDS, best_row, finish_row, search


@pytest.mark.parametrize("toy", ["deep", "uand", "cc"])
def test_quick_search_rows_and_summary(toy):
    lines: list[str] = []
    table = search(toy, quick=True, emit=lines.append)
    parsed = [json.loads(line) for line in lines]
    rows, summary = parsed[:-1], parsed[-1]
    assert rows == table["rows"] and summary == table["summary"] and summary["summary"] is True
    assert len(rows) == summary["rows"] > 0
    for r in rows:
        assert set(ROW_FIELDS) <= set(r) and r["toy"] == toy
        assert 0 <= r["trained_functions"] <= r["n_functions"] and 0 <= r["naive_functions"] <= r["n_functions"]
        assert r["beats_naive"] == (r["neurons"] < r["n_functions"] and r["trained_functions"] > r["naive_functions"])
    assert summary["beats_naive_rows"] == sum(r["beats_naive"] for r in rows)
    assert summary["best"] == best_row(rows)
    assert summary["best_raw_output"] == best_row([r for r in rows if not r.get("sigmoid_readout", False)])
    if toy == "uand":  # BCE's gates are read through a sigmoid
        assert [r["sigmoid_readout"] for r in rows] == [r["loss"] == "bce" for r in rows]
    assert summary["best_config"]["steps"] == 60


def test_cli_search_writes_the_table(tmp_path, capsys):
    out = tmp_path / "table.json"
    assert main(["search", "--toy", "deep", "--quick", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = json.loads(out.read_text())
    assert [json.loads(line) for line in lines] == table["rows"] + [table["summary"]]


def test_cli_search_refuses_an_unknown_toy():
    with pytest.raises(SystemExit):
        main(["search", "--toy", "tms"])


def _row(trained, naive, neurons, n_functions, error=0.5):
    row = {"instance": "p = 0.01", "neurons": neurons, "n_functions": n_functions}
    row |= {"trained_functions": trained, "naive_functions": naive}
    return finish_row("deep", 0, row | {"handmade_functions": None, "trained_error": error, "naive_error": 1.0}, 1.0)


@pytest.mark.parametrize(
    "trained, naive, neurons, n_functions, want",
    [
        (30, 25, 50, 100, True),  # more functions than naive, fewer neurons than functions
        (25, 25, 50, 100, False),  # as many
        (20, 25, 50, 100, False),
        (100, 50, 100, 100, False),  # as many neurons as functions: naive computes every ReLU
        (60, 50, 120, 100, False),  # more neurons than functions
    ],
)
def test_beats_naive_follows_its_definition(trained, naive, neurons, n_functions, want):
    assert _row(trained, naive, neurons, n_functions)["beats_naive"] is want


def test_best_row_is_the_largest_margin_below_the_functions():
    rows = [_row(40, 25, 50, 100, 0.9), _row(45, 30, 60, 100, 0.5), _row(99, 10, 100, 100), _row(20, 25, 50, 100)]
    assert best_row(rows) is rows[1]  # margin 15 twice: the lower error; the 100-neuron row is not below
    assert best_row([_row(5, 5, 10, 10)]) is None
