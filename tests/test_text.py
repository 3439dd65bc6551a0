"""ui.text.literal: whatever a link carries renders as the text itself, never as markup."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ui.text import MAX_ECHO, literal

PHISH = "1` [Your session expired - log in again](https://evil.example/phish) `"
BEACON = "[Download](https://evil.example/p) ![i](https://evil.example/t.png)"


def _code_span(md: str) -> str:
    """The content of the single CommonMark code span ``md`` (fails unless md is exactly one such span)."""
    m = re.fullmatch(r"(`+)(.*?)(`+)", md, flags=re.DOTALL)
    assert m and m.group(1) == m.group(3), md
    inner = m.group(2)
    assert all(len(run) != len(m.group(1)) for run in re.findall(r"`+", inner)), "the fence closes early"
    if len(inner) > 2 and inner[0] == inner[-1] == " " and inner.strip():
        inner = inner[1:-1]
    return inner


def test_the_hostile_values_of_the_issue_come_back_as_text():
    for raw in (PHISH, BEACON, "x\n# Hacked\n| a | b |"):
        assert _code_span(literal(raw)) == " ".join(raw.split())


@given(st.text(min_size=1, max_size=200).filter(str.strip))
def test_any_text_is_one_code_span_holding_it(raw):
    assert _code_span(literal(raw, limit=10_000)) == " ".join(raw.split())


def test_long_values_are_cut_and_empty_ones_shown():
    assert _code_span(literal("a" * 1000)) == "a" * (MAX_ECHO - 1) + "…"
    assert literal("  \n ") == "“”"
