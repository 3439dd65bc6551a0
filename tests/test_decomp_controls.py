"""The Decomposition page's controls reach the config: the AuxK coefficient (``sae_aux_k_coef``, 0 turns AuxK off)."""

from __future__ import annotations

import pytest

from tests.apptest import run_page
from toys.decomp.sae import SAEConfig
from ui.decomp_controls import SPECS, sae_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _defaults() -> dict:
    return {s.key: (10.0**s.default if s.kind == "log" else s.default) for s in SPECS}


def test_aux_k_coef_control_defaults_to_the_config_and_reaches_it():
    spec = next(s for s in SPECS if s.key == "sae_aux_k_coef")
    assert spec.default == SAEConfig().aux_k_coef and spec.lo == 0.0 and spec.hi >= 1.0
    assert spec.check("1") is None and spec.check("-0.5") is not None
    base = _defaults() | {"sae_arch": "topk"}
    assert sae_config(base).aux_k_coef == SAEConfig().aux_k_coef and sae_config(base).aux_on
    assert sae_config(base | {"sae_aux_k_coef": 1.0}).aux_k_coef == 1.0
    off = sae_config(base | {"sae_aux_k_coef": 0.0})
    assert off.aux_k_coef == 0.0 and not off.aux_on


def test_aux_k_coef_from_the_url_reaches_the_trainer():
    at = run_page("decomposition", {"sae_arch": "topk", "sae_aux_k_coef": "0.25", "sae_steps": "100"}, 300)
    assert not at.exception and not at.error
    assert at.slider(key="sae_aux_k_coef").value == 0.25
    at.button(key="sae_step").click().run()
    assert not at.exception and not at.error
    trainer = at.session_state["sae"]["trainer"]
    assert trainer.cfg.aux_k_coef == 0.25 and trainer.cfg.aux_on
