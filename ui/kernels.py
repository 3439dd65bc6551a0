"""numba kernels in the app: compiled ahead of use in the background, and said so while they are on their way.

``start_warmup`` (called by app.py on every run; it acts once per server process) hands the compilation to
``fastcore.warm``. A view that needs a kernel asks ``ready``: while the kernel compiles it shows a note instead of
waiting on it, and reruns the page by itself once the kernel is there. ``SUPERPOSITION_WARMUP=0`` turns the
background compilation off (the tests do; kernels then compile on first use).
"""

from __future__ import annotations

import os

import streamlit as st

from fastcore import warm

POLL_S = 2.0  # how often a page waiting for a kernel looks again


def start_warmup() -> None:
    if os.environ.get("SUPERPOSITION_WARMUP", "1") != "0":
        warm.start()


def ready(group: str, what: str) -> bool:
    """True when the kernels of ``group`` can be called without compiling. Otherwise a note says that ``what``
    appears once they have compiled, the page reruns by itself then, and this returns False."""
    if not warm.compiling(group):
        return True
    st.info(
        f"{what} appears in a moment: its numba kernels are compiling in the background (the first visit after "
        "the server started pays this once; about a minute on a small machine).",
        icon=":material/hourglass_top:",
    )
    _rerun_when_ready(group)
    return False


@st.fragment(run_every=POLL_S)
def _rerun_when_ready(group: str) -> None:
    if not warm.compiling(group):
        st.rerun(scope="app")
