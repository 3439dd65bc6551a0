"""Every preset of every page says what to look for, and says it only while the controls hold that preset."""

import importlib
import pkgutil

import pytest

import ui
from tests.apptest import run_page
from ui.cc_controls import CC_NOTES, UAND_NOTES
from ui.tms_controls import NOTES as TMS_NOTES

HEAD = "**What to look for.**"


def _pickers() -> list[tuple[str, dict, dict]]:
    """(module.PRESETS name, presets, notes) for every presets dict of every ``ui/*_controls.py``; a dict
    ``X_PRESETS`` (or ``PRESETS``) has its notes in ``X_NOTES`` (``NOTES``)."""
    found = []
    for info in pkgutil.iter_modules(ui.__path__):
        if not info.name.endswith("_controls"):
            continue
        module = importlib.import_module(f"ui.{info.name}")
        for name, presets in vars(module).items():
            if name.endswith("PRESETS") and isinstance(presets, dict):
                notes = getattr(module, name.removesuffix("PRESETS") + "NOTES", None)
                found.append((f"{info.name}.{name}", presets, notes))
    return found


PICKERS = _pickers()


def test_every_page_with_presets_is_covered():
    names = {name for name, _, _ in PICKERS}
    assert {
        "tms_controls.PRESETS",
        "abs_controls.PRESETS",
        "cc_controls.CC_PRESETS",
        "cc_controls.UAND_PRESETS",
        "clustering_controls.PRESETS",
        "decomp_controls.PRESETS",
        "deep_controls.PRESETS",
        "geometry_controls.PRESETS",
        "phase_controls.PRESETS",
    } <= names


@pytest.mark.parametrize("name, presets, notes", PICKERS, ids=[p[0] for p in PICKERS])
def test_every_preset_has_a_note(name, presets, notes):
    assert notes is not None, f"{name} has no notes"
    assert set(notes) == set(presets), f"{name}: notes for {set(notes) ^ set(presets)}"
    for preset, note in notes.items():
        assert note.strip(), f"{name}: {preset!r} has an empty note"
        assert len(note) <= 420, f"{name}: {preset!r}: keep the note to a sentence or two ({len(note)} characters)"


def _captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption] + [c.value for c in at.caption]


def _said(at, note: str) -> bool:
    return any(HEAD in c and note in c for c in _captions(at))


def test_a_picked_preset_says_what_to_look_for_until_a_control_changes():
    at = run_page("superposition")
    assert not any(HEAD in c for c in _captions(at))
    preset = "Correlated pairs"
    at.selectbox(key="tms_preset").select(preset).run()
    assert _said(at, TMS_NOTES[preset])
    at.slider(key="n_features").set_value(6).run()
    assert not any(HEAD in c for c in _captions(at)), "the note stays after a control changed"
    at.slider(key="n_features").set_value(4).run()  # back to the preset's values: true again
    assert _said(at, TMS_NOTES[preset])


def test_a_preset_named_in_the_url_says_what_to_look_for():
    at = run_page("superposition", {"preset": "anticorrelated-pairs"})
    assert _said(at, TMS_NOTES["Anticorrelated pairs"])


@pytest.mark.slow
def test_computation_presets_say_what_to_look_for():
    at = run_page("computation")
    cc, uand = "Published: clean labels only", "Denser inputs: 24 inputs, 3 on"
    at.selectbox(key="cc_preset").select(cc).run()
    at.selectbox(key="uand_preset").select(uand).run()
    assert _said(at, CC_NOTES[cc]) and _said(at, UAND_NOTES[uand])
    at.slider(key="uand_n_inputs").set_value(25).run()
    assert _said(at, CC_NOTES[cc]) and not _said(at, UAND_NOTES[uand])


def test_talk_mode_says_a_preset_note_in_the_page():
    """A preset that is not one of the talk's demos has its note in the page itself (the sidebar is hidden)."""
    at = run_page("superposition", {"talk": "1", "preset": "correlated-pairs"})
    assert any(TMS_NOTES["Correlated pairs"] in m.value for m in at.main.markdown)


def test_computation_talk_mode_says_the_shown_models_note_in_the_page():
    at = run_page("computation", {"talk": "1", "preset": "published-clean-labels-only"})
    said = [m.value for m in at.main.markdown]
    assert any(CC_NOTES["Published: clean labels only"] in m for m in said)
    assert not any(note in m for note in UAND_NOTES.values() for m in said)
