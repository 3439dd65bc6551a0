"""Superposition Playground: entry point, navigation, shared sidebar and landing page."""

import streamlit as st

from ui.badge import device_badge

st.set_page_config(page_title="Superposition Playground", page_icon=":material/scatter_plot:", layout="wide")


def landing() -> None:
    st.title("Superposition Playground")
    st.markdown(
        """
Neural networks often represent **more features than they have dimensions**. They can, because most features are
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

Every control lives in the URL: copy the address bar to share exactly what you see.
        """
    )
    st.page_link("pages/superposition.py", label="Open the Superposition page", icon=":material/arrow_forward:")


pages = [
    st.Page(landing, title="Home", icon=":material/home:", default=True),
    st.Page("pages/superposition.py", title="Superposition", icon=":material/scatter_plot:"),
    st.Page("pages/absval.py", title="Absolute value", icon=":material/functions:"),
]
nav = st.navigation(pages)
device_badge()
with st.sidebar.expander("About"):
    st.markdown("Toy models of superposition, trained live. Library: `toys` (torch), `charts` (altair).")
nav.run()
