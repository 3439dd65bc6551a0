"""Superposition Playground: entry point, navigation, shared sidebar and landing page."""

import streamlit as st

from ui.gallery import gallery
from ui.kernels import start_warmup
from ui.sessions import start_reaper
from ui.startup import library, yield_to_visitor
from ui.talk import talk_mode

st.set_page_config(
    page_title="Superposition Playground",
    page_icon=":material/scatter_plot:",
    layout="wide",
    initial_sidebar_state="collapsed" if talk_mode() else "auto",
)
start_warmup()  # once per server process: the numba kernels compile in the background
start_reaper()  # once per server process: closed tabs' sessions are freed


def landing() -> None:
    st.title("Superposition Playground")
    st.markdown(
        "Neural networks often represent **more features than they have dimensions**. Train the toy models behind "
        "that idea live and watch their geometry form. Pick a demo: it opens in talk mode, playing, with "
        "its controls folded away; the pages in the sidebar have every control."
    )
    gallery()
    st.markdown(
        """
Why they can: because most features are
rarely active at once: a model can give several features nearly-orthogonal directions in the same space and
tolerate the interference when two fire together. This is **superposition** (Elhage et al., *Toy Models of
Superposition*, 2022). Here you train the toy models behind that idea live, on the GPU when there is one and on
the CPU otherwise, and watch their geometry form.

**Pages**
- **Superposition** — Anthropic's toy models: n sparse features squeezed through m hidden dimensions and read back
  (linear, ReLU-output and ReLU-hidden). Sweep sparsity across instances and watch features go from dedicated
  dimensions to antipodal pairs and pentagons; see each feature's norm, its superposition score, WᵀW, and, in two
  dimensions, the feature directions themselves.
- **Absolute value** — a hidden layer *computing* |x| (or x², max, AND, OR) of sparse features: neuron plots,
  which neurons serve which half of which feature, loss per feature against the best linear readout, and a
  side-by-side comparison of two activations (ReLU, GELU, SiLU, …) or dropout from the same seed and data.
- **Computation** — computation in superposition, and honestly when it is not: the compressed-computation
  residual MLP (100 features, 50 neurons) against its naive baseline, its clean-label control and the mixing
  σ sweep; and universal-AND circuits, trained and hand-made, counting the gates computed against the neurons.
- **Feature geometry** — many sparsities at once: dimensions per feature against 1/(1−S), every feature's
  dimensionality with the sticky fractions (1, 3/4, 2/3, 1/2, 2/5, 3/8), each feature named by its polytope
  (digon, triangle, tetrahedron, pentagon, square antiprism), and the ideal (Thomson) configuration of n points.
- **Phase diagram** — relative importance × feature density for n = 2, m = 1 and n = 3, m = 2, every cell a
  model (best of K seeds), coloured by whether the extra feature is dropped, given its own dimension or
  superposed, with the exact n = 2, m = 1 boundaries drawn over it.
- **Circuit clustering** — a model computing T planted circuits in one shared MLP, a transcoder trained on that
  MLP, and clustering of the transcoder latents' co-activations: do the clusters recover the circuits? Scored
  against the ground truth (adjusted Rand index, AMI, purity) for numba and scikit-learn methods side by side.
- **CIS lab** — can a trained network compute more functions than it has neurons, and beat the naive circuit?
  spd's residual MLP with 1–3 ReLU blocks computing ReLU, |x| or max(|x|, |y|) of sparse features, each function
  counted as computed or not on held-out data, against the naive circuit with the same neurons.
- **Decomposition** — sparse dictionaries (ReLU + L1, TopK, BatchTopK, JumpReLU SAEs; transcoders for an MLP)
  trained on activations whose features are known, and graded: MCC, features recovered, L0 against the true L0,
  dead latents, shrinkage, absorption and splitting, over sweeps of width and sparsity penalty.

Every control lives in the URL: copy the address bar to share exactly what you see.
        """
    )
    st.page_link("pages/superposition.py", label="Open the Superposition page", icon=":material/arrow_forward:")


pages = [
    st.Page(landing, title="Home", icon=":material/home:", default=True),
    st.Page("pages/superposition.py", title="Superposition", icon=":material/scatter_plot:"),
    st.Page("pages/absval.py", title="Absolute value", icon=":material/functions:"),
    st.Page("pages/computation.py", title="Computation", icon=":material/calculate:"),
    st.Page("pages/geometry.py", title="Feature geometry", icon=":material/hexagon:"),
    st.Page("pages/phase.py", title="Phase diagram", icon=":material/grid_on:"),
    st.Page("pages/clustering.py", title="Circuit clustering", icon=":material/hub:"),
    st.Page("pages/cislab.py", title="CIS lab", icon=":material/stacked_line_chart:"),
    st.Page("pages/decomposition.py", title="Decomposition", icon=":material/join_inner:"),
]


def load_library(title: str | None) -> None:
    """Wait for the library (``ui.startup``: imported once per server process, on a thread of its own) with a note
    naming the page opened (``None``: Home, drawn already) and the seconds so far. Every quarter second the run
    gives way to a click meanwhile, which is answered at once instead of after the import."""
    opening = f"Opening **{title}**: loading" if title else "Loading"
    shown = [-1]  # the second on the note: redrawn once a second (each redraw re-renders the page in the browser)

    def tick(seconds: float) -> None:
        if int(seconds) == shown[0] and yield_to_visitor():
            return
        shown[0] = int(seconds)
        note.info(
            f"{opening} PyTorch and the toy models, once after each server start (a few seconds)… {int(seconds)} s"
        )

    if not library.loaded:
        note = st.empty()
        library.wait(tick)
        note.empty()


nav = st.navigation(pages)
badge = st.sidebar.container()  # filled once the library is loaded: Home paints first on a fresh server
with st.sidebar.expander("About"):
    st.markdown("Toy models of superposition, trained live. Library: `toys` (torch), `charts` (altair).")
if nav.url_path == "":  # Home needs no torch: draw it, then load the library for the next page
    nav.run()
    load_library(None)
else:
    load_library(nav.title)
from ui.badge import device_badge  # imports torch (toys.core.device): after the library, above

with badge:
    device_badge()
if nav.url_path != "":
    nav.run()
