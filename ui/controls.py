"""Controls declared once as specs: drawn as widgets bound to the URL, and used to vet URL parameters.

Every control has a key that is also its query parameter, so a link reproduces the view. Streamlit drops URL
values a widget cannot take; ``check_query_params`` says so in the page first, naming parameter and range.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitAPIException

from ui.talk import TALK_PARAMS, arrived, talk_mode
from ui.text import literal


@dataclass(frozen=True)
class Spec:
    """One control. ``kind`` is int, float, log (a float slider over log10 values), choice, bool or text (free
    text, vetted by the config it feeds; ``hi`` caps its length)."""

    key: str
    label: str
    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    options: tuple = ()
    help: str | None = None

    def check(self, raw: str) -> str | None:
        """None if a URL value is acceptable, else a message saying why not."""
        if self.kind == "choice":
            return (
                None if raw in [str(o) for o in self.options] else f"choose one of {', '.join(map(str, self.options))}"
            )
        if self.kind == "bool":
            return None if raw.lower() in ("true", "false") else "must be true or false"
        if self.kind == "text":
            return None if len(raw) <= (self.hi or 1000) else f"longer than {int(self.hi or 1000)} characters"
        try:
            v = float(raw)
        except ValueError:
            return f"must be a number in [{self.lo}, {self.hi}]"
        if not math.isfinite(v) or not self.lo <= v <= self.hi:
            return f"out of range: allowed [{self.lo}, {self.hi}]"
        if self.kind == "int" and not v.is_integer():
            return f"must be an integer in [{self.lo}, {self.hi}]"
        return None


def draw(spec: Spec, *, disabled: bool = False) -> Any:
    """Draw one control bound to the URL under its key; returns its value in config units."""
    common = {"key": spec.key, "help": spec.help, "bind": "query-params", "disabled": disabled}
    if spec.kind == "int":
        return st.slider(spec.label, int(spec.lo), int(spec.hi), int(spec.default), int(spec.step or 1), **common)
    if spec.kind in ("float", "log"):
        fine = spec.step is not None and spec.step < 0.01  # "0.00" would hide a learning rate of 3e-3
        value = st.slider(
            spec.label,
            float(spec.lo),
            float(spec.hi),
            float(spec.default),
            spec.step,
            format="%.4g" if fine else None,
            **common,
        )
        return 10.0**value if spec.kind == "log" else value
    if spec.kind == "choice":
        return st.selectbox(spec.label, spec.options, index=spec.options.index(spec.default), **common)
    if spec.kind == "bool":
        return st.toggle(spec.label, value=bool(spec.default), **common)
    if spec.kind == "text":
        return st.text_input(spec.label, value=str(spec.default), max_chars=int(spec.hi or 1000), **common).strip()
    raise ValueError(f"unknown control kind {spec.kind!r}")


def valid_config(
    build: Callable[[dict[str, Any]], Any], values: dict[str, Any], what: str = "", thing: str = "model"
) -> Any | None:
    """``build(values)``, or None with a message in the page when the settings do not validate (the live view then
    keeps its last valid ``thing``)."""
    try:
        return build(values)
    except ValueError as e:
        st.error(
            f"These {what + ' ' if what else ''}settings do not make a valid {thing}: {literal(e, 400)}. Training keeps the "
            f"last valid {thing}, if there is one."
        )
        return None


def config_fields(
    values: dict[str, Any], prefix: str, skip: tuple[str, ...] = (), off_at_zero: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A page's control values as config fields: each control's key without the page's ``prefix`` names its field,
    and a ``log10_x`` control gives ``x = 10**v``. Controls in ``skip`` are left out; a log control in
    ``off_at_zero`` at v ≥ 0 gives x = 0 (off)."""
    fields: dict[str, Any] = {}
    for key, val in values.items():
        if key in skip:
            continue
        name = key.removeprefix(prefix)
        if name.startswith("log10_"):
            fields[name.removeprefix("log10_")] = 0.0 if key in off_at_zero and val >= 0.0 else float(10.0**val)
        else:
            fields[name] = val
    return fields


_REPEATED_KEYS = "_url_repeated_keys"  # session state: what to say, in the rerun, about URL keys given twice


def check_query_params(specs: list[Spec], extra_keys: tuple[str, ...] = ()) -> list[str]:
    """Messages for URL parameters that name no control, hold a value the control cannot take, or come more than
    once (``extra_keys`` are taken as they are, but for repeats).

    A repeated key keeps its last value, the one Streamlit reads for a select box or a toggle. A slider bound to
    the URL takes no list: Streamlit would drop the key from the URL (all of the URL when it was the only key)
    and draw the default, with no word. So the URL is cut to each repeated key's last value and the page reruns
    at once, before any control is drawn; the controls then read the URL as usual, and the message comes in
    that rerun."""
    by_key = {s.key: s for s in specs}
    messages = st.session_state.pop(_REPEATED_KEYS, [])
    repeated = {}
    for key in st.query_params:
        values = st.query_params.get_all(key)
        if len(values) > 1 and (key in by_key or key in extra_keys):
            repeated[key] = values
        if key in extra_keys:
            continue
        if key not in by_key:
            messages.append(f"URL parameter {literal(key)} is not a control of this page; it was ignored.")
            continue
        for raw in values:
            why = by_key[key].check(raw)
            if why:
                messages.append(
                    f"URL parameter {literal(f'{key}={raw}')} was ignored: {why}. Using the default instead."
                )
    if not repeated:
        return messages
    said = [
        f"URL parameter {literal(key)} is given {len(values)} times ({literal(', '.join(values))}); it takes one "
        f"value, so the last, {literal(values[-1])}, is used."
        for key, values in repeated.items()
    ]
    try:
        for key, values in repeated.items():
            st.query_params[key] = values[-1]
    except StreamlitAPIException:  # a control drawn earlier in this session holds the key: it keeps its value
        return messages + [
            f"URL parameter {literal(k)} is given {len(v)} times; it was ignored." for k, v in repeated.items()
        ]
    st.session_state[_REPEATED_KEYS] = said
    st.session_state.pop("_talk_page", None)  # the rerun is still the visitor's arrival on the page (ui.talk)
    st.rerun()


def apply_values(values: dict[str, Any], specs: list[Spec]) -> None:
    """Set controls (e.g. from a preset) through session state; call from an on_change/on_click callback."""
    by_key = {s.key: s for s in specs}
    for key, value in values.items():
        spec = by_key[key]
        st.session_state[key] = math.log10(value) if spec.kind == "log" else value


def reset_values(specs: list[Spec]) -> None:
    for s in specs:
        st.session_state[s.key] = s.default


def _slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")


def preset_slugs(presets: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The name each preset goes by in a URL (``?preset=pentagon``), slug -> preset: its title before any colon or
    parenthesis in lower-case ASCII words joined by hyphens ("Pentagon: 5 features in 2 dims" -> "pentagon",
    "Hänni et al.: ..." -> "hanni-et-al"); where two titles share that head, the title up to any parenthesis
    ("published-embedding-noise-only")."""
    heads = [_slug(re.split(r"[:(]", name, maxsplit=1)[0]) for name in presets]
    slugs = {}
    for head, name in zip(heads, presets, strict=True):
        slug = head if heads.count(head) == 1 else _slug(name.split("(", 1)[0])
        if not slug or slug in slugs:
            raise ValueError(f"preset {name!r} has no URL name of its own")
        slugs[slug] = name
    return slugs


def _state_value(spec: Spec, value: Any) -> Any:
    return math.log10(value) if spec.kind == "log" else value


def active_preset(presets: dict[str, dict[str, Any]], specs: list[Spec]) -> str | None:
    """The preset the controls hold now (every control it names at its value, every other at its default), if
    any: its note stays true only while nothing was changed."""
    for name, values in presets.items():
        want = {s.key: s.default for s in specs} | {k: _state_value(_spec(specs, k), v) for k, v in values.items()}
        if all(_same(st.session_state.get(s.key, s.default), want[s.key]) for s in specs):
            return name
    return None


def _spec(specs: list[Spec], key: str) -> Spec:
    return next(s for s in specs if s.key == key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def url_preset_warning(*preset_dicts: dict[str, dict[str, Any]]) -> None:
    """A warning in the page when the URL names a preset (``?preset=``) that none of the page's pickers has."""
    wanted = st.query_params.get("preset")
    if wanted is None:
        return
    known = [slug for presets in preset_dicts for slug in preset_slugs(presets)]
    if wanted not in known:
        st.warning(
            f"URL parameter {literal(f'preset={wanted}')} names no preset of this page; it was ignored. "
            f"Presets: {', '.join(known)}."
        )


def preset_picker(presets: dict[str, dict[str, Any]], specs: list[Spec], key: str) -> DeltaGenerator:
    """A selectbox that loads a preset: every control not named by it goes back to its default.

    A preset named in the URL (``?preset=pentagon``, its ``preset_slugs`` name) is loaded when the visitor arrives
    on the page (``ui.talk.arrived``); controls the URL sets itself keep the URL's values. Picking a preset puts
    its name in the URL. Returns an empty slot under the picker, for the preset's note (``preset_note``)."""
    slugs = preset_slugs(presets)
    names = {name: slug for slug, name in slugs.items()}
    wanted = st.query_params.get("preset")
    if wanted in slugs and arrived():
        given = set(st.query_params)
        reset_values([s for s in specs if s.key not in given])
        apply_values({k: v for k, v in presets[slugs[wanted]].items() if k not in given}, specs)
        st.session_state[key] = slugs[wanted]

    def _load() -> None:
        name = st.session_state[key]
        if name is None:
            return
        reset_values(specs)
        apply_values(presets[name], specs)
        st.query_params["preset"] = names[name]

    st.selectbox("Preset", list(presets), index=None, placeholder="Load a preset…", key=key, on_change=_load)
    return st.empty()


def preset_note(
    slot: DeltaGenerator, presets: dict[str, dict[str, Any]], specs: list[Spec], notes: dict[str, str]
) -> str | None:
    """What to look for in the preset the controls hold, in ``slot`` (under the picker), and in talk mode also
    in the page when it is not one of the talk's demos (which say their own); returns it (None when the controls
    hold no preset)."""
    name = active_preset(presets, specs)
    note = notes.get(name) if name else None
    if note:
        slot.caption(f"**What to look for.** {note}")
        if talk_mode() and not st.session_state.get("_talk_said"):
            st.markdown(note)
    return note


def draw_group(title: str, specs: list[Spec], disabled: Callable[[Spec], bool] = lambda s: False) -> dict[str, Any]:
    with st.expander(title, expanded=True):
        return {s.key: draw(s, disabled=disabled(s)) for s in specs}


def sidebar_controls(
    specs: list[Spec],
    presets: dict[str, dict[str, Any]],
    preset_key: str,
    groups: list[tuple],
    preset_specs: list[Spec] | None = None,
    notes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A page's controls: warnings for bad URL parameters in the page, then in the sidebar the preset picker (with
    what to look for in the preset the controls hold) and each group, given as (title, specs) or (title, specs,
    disabled). Returns the raw control values."""
    for message in check_query_params(specs, TALK_PARAMS):
        st.warning(message)
    url_preset_warning(presets)
    values: dict[str, Any] = {}
    picker_specs = specs if preset_specs is None else preset_specs
    with st.sidebar:
        slot = preset_picker(presets, picker_specs, key=preset_key)
        for title, group, *disabled in groups:
            values |= draw_group(title, group, *disabled)
    preset_note(slot, presets, picker_specs, notes or {})
    return values
