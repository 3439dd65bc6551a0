"""Talk mode (``?talk=1`` on any page): one large view, readable from the back of a room, playing on load.

A speaker sends one link, e.g. ``/superposition?talk=1&preset=pentagon``: the page folds its controls away (the
sidebar is hidden, also inside an iframe with ``&embed=true``), loads the preset named in the URL, presses Play by
itself, and draws one main chart at projector size (text at least ``FONT_PX``) with what to look for above it.
``DEMOS`` is the list a talk steps through (previous / next in the page's top row) and the gallery on Home shows.

How a page uses it: ``header(page, title, intro)`` first (it also notes whether the visitor just arrived on the
page, when a preset named in the URL is applied), its controls as usual, then ``ui.live.live_training(...,
talk=view)``, where ``view(snap, info)`` draws the page's one talk chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

FONT_PX = 24  # the smallest text in talk mode, at 1280×720
TALK_PARAMS = ("talk", "preset", "instance")  # URL parameters every page takes beside its controls
_ON = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Demo:
    """One demo of a talk and one card of the gallery: a page opened with one of its presets."""

    slug: str
    title: str
    page: str  # the page's URL path (its file is pages/<page>.py)
    preset: str  # the preset's URL name (ui.controls.preset_slugs)
    look_for: str  # what to look for, said under the title

    @property
    def query(self) -> dict[str, str]:
        return {"talk": "1", "preset": self.preset}

    @property
    def url(self) -> str:
        return f"/{self.page}?talk=1&preset={self.preset}"

    @property
    def thumbnail(self) -> str:
        return f"docs/gallery/{self.slug}.png"


DEMOS: tuple[Demo, ...] = (
    Demo(
        "pentagon",
        "Five features in two dimensions",
        "superposition",
        "pentagon",
        "Sparse features (1−S = 0.05): the five directions spread into a regular pentagon, 72° apart, all of "
        "the same length (a little over 1) — more features than dimensions.",
    ),
    Demo(
        "intro",
        "From dedicated dimensions to superposition",
        "superposition",
        "anthropic-intro",
        "Ten models from dense to sparse features: dense ones keep the two most important features and drop the "
        "rest; sparse ones keep four or five in the same two dimensions, in superposition.",
    ),
    Demo(
        "privileged-basis",
        "A privileged basis",
        "superposition",
        "privileged-basis",
        "A hidden ReLU: dense features get a neuron each (monosemantic); sparser ones share neurons "
        "(polysemantic), most important features first.",
    ),
    Demo(
        "absolute-value",
        "|x| computed in superposition",
        "absval",
        "x-in-superposition",
        "100 features, 40 neurons: the network computes |x| = ReLU(x) + ReLU(−x) for more features than it has "
        "neuron pairs, each neuron serving halves of several features.",
    ),
    Demo(
        "compressed-computation",
        "Compressed computation, or label noise?",
        "computation",
        "quick-cpu-demo",
        "Loss per active feature against the naive baseline (dashed): the noisy-label model beats it, the same "
        "model with clean labels does not (Bhagat et al. 2025).",
    ),
    Demo(
        "universal-and",
        "Universal AND",
        "computation",
        "small",
        "Gates computed against the width d, trained beside the hand-made construction: above the dashed line a "
        "network computes more ANDs than it has neurons. At these small sizes neither gets far above it.",
    ),
    Demo(
        "phase-diagram",
        "Phase diagram",
        "phase",
        "quick-look",
        "Two features, one dimension: as the extra feature gets sparser and more important it goes from dropped "
        "to superposed; the lines are the exact boundaries.",
    ),
    Demo(
        "circuit-clustering",
        "Circuits from co-activations",
        "clustering",
        "default",
        "Transcoder latents that fire together, reordered by cluster: the blocks are the planted circuits, "
        "recovered when the adjusted Rand index is near 1.",
    ),
)


def talk_mode() -> bool:
    """Whether the page is in talk mode (``?talk=1``)."""
    return str(st.query_params.get("talk", "")).lower() in _ON


def arrived() -> bool:
    """Whether this run is the visitor's first on the current page (a new session, or they came from another
    page): a preset named in the URL is applied then, and talk mode plays then."""
    return bool(st.session_state.get("_talk_arrived", True))


def demo_for(page: str, preset: str | None) -> Demo | None:
    return next((d for d in DEMOS if d.page == page and d.preset == preset), None)


def _neighbours(page: str, preset: str | None) -> tuple[Demo | None, Demo | None, Demo | None]:
    here = demo_for(page, preset)
    if here is None:
        return None, None, None
    i = DEMOS.index(here)
    return here, DEMOS[i - 1] if i > 0 else None, DEMOS[i + 1] if i + 1 < len(DEMOS) else None


_STYLE = f"""
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"], header[data-testid="stHeader"] {{ display: none !important; }}
.stMainBlockContainer, [data-testid="stMainBlockContainer"] {{ padding: 1rem 1.5rem 1rem 1.5rem !important;
  max-width: 100% !important; }}
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stCaptionContainer"],
[data-testid="stCaptionContainer"] p, [data-testid="stMain"] button p, [data-testid="stMain"] a p,
[data-testid="stMain"] [data-testid="stAlertContainer"] p, [data-testid="stMain"] [data-testid="stIconMaterial"],
[data-testid="stMain"] a span {{ font-size: {FONT_PX}px !important;
  line-height: 1.3 !important; }}
[data-stale="true"] {{ opacity: 1 !important; transition: none !important; }}
[data-testid="stMain"] h2 {{ font-size: {FONT_PX * 1.6:.0f}px !important; padding: 0 0 0.2rem 0 !important; }}
</style>
"""


def _link(where, demo: Demo, label: str, icon: str) -> None:
    """A link to ``demo`` in talk mode: within the app (the session and its models stay), or a plain link where
    the page runs without the app's navigation (a page run on its own, as in tests)."""
    try:
        where.page_link(f"pages/{demo.page}.py", label=label, icon=icon, query_params=demo.query)
    except StreamlitPageNotFoundError:
        where.markdown(f"[{label}]({demo.url})")


def header(page: str, title: str, intro: str) -> None:
    """A page's title and introduction; in talk mode its hidden controls, a short title, the demo's previous /
    next links and what to look for. Call first on every page."""
    st.session_state["_talk_arrived"] = st.session_state.get("_talk_page") != page
    st.session_state["_talk_page"] = page
    if arrived():
        st.session_state["_talk_played"] = set()
    if not talk_mode():
        st.title(title)
        st.markdown(intro)
        return
    st.html(_STYLE)
    preset = st.query_params.get("preset")
    here, before, after = _neighbours(page, preset)
    left, prev, nxt = st.columns([6, 1, 1], vertical_alignment="center")
    left.markdown(f"## {here.title if here else title}")
    for column, demo, label, icon in ((prev, before, "Previous", "arrow_back"), (nxt, after, "Next", "arrow_forward")):
        if demo is not None:
            _link(column, demo, label, f":material/{icon}:")
    st.session_state["_talk_said"] = here is not None
    if here is not None:
        st.markdown(here.look_for)


def take_autoplay(key: str) -> bool:
    """True once per arrival on a page in talk mode, for each trainer ``key``: talk mode plays on load."""
    if not talk_mode():
        return False
    played = st.session_state.setdefault("_talk_played", set())
    if key in played:
        return False
    played.add(key)
    return True
