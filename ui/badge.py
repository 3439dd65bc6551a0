"""The sidebar badge naming the device training runs on."""

from __future__ import annotations

import streamlit as st

from toys.core.device import device_label


@st.cache_data(show_spinner=False)
def _label() -> str:
    return device_label()


def device_badge() -> None:
    label = _label()
    icon = ":material/memory:" if "cuda" in label else ":material/computer:"
    st.sidebar.markdown(f"{icon} **Device:** {label}")
