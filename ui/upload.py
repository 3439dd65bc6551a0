"""Loading a saved model into a page: an uploader for the .safetensors + .json pair the page's export gives.

The files are checked by ``toys.core.saved`` (sizes before reading, nothing unpickled, names, shapes and dtypes
against a trainer built for the config); the model must come from this page's slot (``key``) or from a notebook
(no page) and be of the toy the slot trains. ``ui.live`` installs it; anything else is an error under the uploader
and the visitor keeps the model they had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from toys.core.saved import CONFIG_SUFFIX, SUFFIX, SavedModel, read_model
from ui.export import PAGES
from ui.text import literal

MAX_UPLOAD_MB = 50  # per file; .streamlit/config.toml caps the server's uploads at the same


def page_label(key: str) -> str:
    """How a message names the page (and part of it) a model slot is on."""
    page = PAGES.get(key)
    return f"the {page.replace('_', ' ')} page ({key})" if page else f"a model slot {key!r} this app does not have"


def read_upload(files: list[Any], max_bytes: int = MAX_UPLOAD_MB * 2**20) -> SavedModel | None:
    """The saved model in uploaded ``files`` (file objects with ``name``): one .safetensors and one .json.
    None while only one of the two is there; ValueError for anything else."""
    weights = [f for f in files if f.name.lower().endswith(SUFFIX)]
    configs = [f for f in files if f.name.lower().endswith(CONFIG_SUFFIX)]
    if len(weights) > 1 or len(configs) > 1 or len(weights) + len(configs) != len(files):
        raise ValueError(f"give one {SUFFIX} file and one {CONFIG_SUFFIX} file, the pair that one export gave")
    if not weights or not configs:
        return None
    return read_model(weights[0], configs[0], max_bytes)


def check_slot(saved: SavedModel, key: str, toy: str | None) -> None:
    """ValueError unless the model belongs in slot ``key``, which trains ``toy`` (None: not known yet)."""
    if saved.page is not None and saved.page != key:
        raise ValueError(f"it was saved from {page_label(saved.page)}, not from {page_label(key)}")
    if toy is not None and saved.snapshot.toy != toy:
        raise ValueError(f"it is a {saved.snapshot.toy!r} model; {page_label(key)} trains {toy!r} models")


def model_uploader(key: str, install: Callable[[SavedModel], None], state: dict[str, Any]) -> None:
    """An uploader for a saved model; on a complete pair, ``install(saved)`` (which raises ValueError to refuse).
    The outcome shows under the uploader once."""
    widget = f"{key}_upload"

    def changed() -> None:
        files = st.session_state.get(widget) or []
        state["upload"] = None
        if not files:
            return
        try:
            saved = read_upload(files)
            if saved is None:
                state["upload"] = ("info", f"Now add the other file of the pair ({SUFFIX} and {CONFIG_SUFFIX}).")
                return
            install(saved)
        except (ValueError, RuntimeError) as e:
            state["upload"] = ("error", f"This model was not loaded: {literal(e, 400)}. You keep the model you had.")
        else:
            state["upload"] = ("success", f"Loaded the saved model at step {saved.snapshot.step:,}, paused.")

    st.file_uploader(
        f"Load a saved model ({SUFFIX} + {CONFIG_SUFFIX}, at most {MAX_UPLOAD_MB} MB)",
        type=[SUFFIX.lstrip("."), CONFIG_SUFFIX.lstrip(".")],
        accept_multiple_files=True,
        max_upload_size=MAX_UPLOAD_MB,
        key=widget,
        on_change=changed,
        help="The two files a page's Save model buttons give (or toys.save_model in a notebook). They are checked "
        "against the model their config describes; nothing in them is executed.",
    )
    outcome = state.pop("upload", None)
    if outcome is not None:
        kind, message = outcome
        {"error": st.error, "info": st.info, "success": st.success}[kind](message)
