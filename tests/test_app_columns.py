"""Small multiples drawn in half of the page fit there: Streamlit draws a faceted chart at its own width and cuts
off what runs past its column (the fourth seed's directions and the legend on the Phase page, the legend's
title on the Absolute-value page's variants)."""

from __future__ import annotations

import json

from tests.apptest import run_page

HALF_PAGE = 430  # pixels: one of two columns at 1280 × 720 with the sidebar open
Y_AXIS = 40  # pixels left of the first panel
RIGHT_LEGEND = 110  # pixels of a gradient or symbol legend right of the panels
SPACING = 20  # pixels between panels


def _colours(spec) -> list[dict]:
    """Every colour encoding anywhere in a spec."""
    if isinstance(spec, dict):
        enc = spec.get("encoding")
        found = [enc["color"]] if isinstance(enc, dict) and isinstance(enc.get("color"), dict) else []
        return found + [c for v in spec.values() for c in _colours(v)]
    if isinstance(spec, list):
        return [c for v in spec for c in _colours(v)]
    return []


def _facet_widths(at) -> list[tuple[str, int]]:
    """(title, estimated width) of every faceted chart drawn inside a column."""
    found = []
    for column in at.columns:
        for chart in column.get("vega_lite_chart"):
            spec = json.loads(chart.proto.spec)
            if "facet" not in spec or not isinstance(spec.get("spec", {}).get("width"), int):
                continue
            panels = spec["facet"]["sort"]  # every panel's label, in order
            cols = min(spec["columns"], len(panels))
            right = any(
                c.get("legend", {}) is not None and (c.get("legend") or {}).get("orient") != "bottom"
                for c in _colours(spec)
            )
            width = Y_AXIS + cols * spec["spec"]["width"] + (cols - 1) * SPACING + RIGHT_LEGEND * right
            found.append((str(spec.get("title")), width))
    return found


def test_phase_cell_directions_fit_half_the_page():
    at = run_page(
        "phase",
        {"phase_setup": "n3_m2", "phase_n_importance": "3", "phase_n_density": "3", "phase_seeds": "4"},
        timeout=300,
    )
    assert not at.exception
    widths = _facet_widths(at)
    assert any("directions" in t for t, _ in widths)
    assert all(w <= HALF_PAGE for _, w in widths), widths


def test_absval_variants_fit_half_the_page():
    at = run_page("absval", {"abs_compare_activation": "gelu"}, timeout=300)
    at.button(key="abs_step").click().run()
    assert not at.exception
    widths = _facet_widths(at)
    assert len(widths) >= 4  # neurons and outputs of both variants
    assert all(w <= HALF_PAGE for _, w in widths), widths
