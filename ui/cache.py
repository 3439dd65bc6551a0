"""Per-visitor memo of slow analyses: one value per key in ``st.session_state``, recomputed when its tag changes.

``st.cache_data`` shares results between visitors and keeps many; an analysis of one visitor's trained model is
theirs alone and only the latest matters, so it lives in their session, under a key, with the tag it was computed
for (e.g. the snapshot's step and config).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import streamlit as st

T = TypeVar("T")


def snapshot_tag(snap: Any, *more: Hashable) -> tuple:
    """A tag that changes whenever the snapshot's step or config does (plus anything in ``more``)."""
    return (snap.step, repr(sorted(snap.config.items())), *more)


def session_memo(key: str, tag: Hashable, compute: Callable[[], T]) -> T:
    """The value kept under ``key`` in this session if it was computed for ``tag``; otherwise ``compute()``, kept
    under ``key`` (replacing the old value) and returned."""
    cached = st.session_state.get(key)
    if cached is None or cached[0] != tag:
        cached = (tag, compute())
        st.session_state[key] = cached
    return cached[1]
