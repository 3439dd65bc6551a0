"""The Computation page's loss and label controls (ui.cc_controls) reach the configs they feed."""

from __future__ import annotations

import pytest

from toys.compute.cc import CC_LABELS, CC_LOSSES
from toys.compute.uand import LOSSES
from ui.cc_controls import CC_PRESETS, CC_SPECS, UAND_SPECS, cc_config, sweep_config, uand_config


def _defaults(specs) -> dict:
    return {s.key: s.default for s in specs}


@pytest.mark.parametrize("loss", LOSSES)
def test_uand_loss_control_sets_the_config(loss):
    cfg = uand_config({**_defaults(UAND_SPECS), "uand_loss": loss, "uand_loss_p": 3.0})
    assert cfg.loss == loss and cfg.loss_p == 3.0


@pytest.mark.parametrize("labels", CC_LABELS)
@pytest.mark.parametrize("loss", CC_LOSSES)
def test_cc_loss_and_labels_controls_set_both_configs(loss, labels):
    values = {**_defaults(CC_SPECS), "cc_loss": loss, "cc_loss_p": 6.0, "cc_labels": labels}
    for cfg in (cc_config(values), sweep_config(values)):
        assert (cfg.loss, cfg.loss_p, cfg.labels) == (loss, 6.0, labels)


def test_the_controls_offer_exactly_the_configs_choices():
    specs = {s.key: s for s in CC_SPECS + UAND_SPECS}
    assert specs["uand_loss"].options == LOSSES and specs["cc_loss"].options == CC_LOSSES
    assert specs["cc_labels"].options == CC_LABELS
    assert (
        specs["uand_loss"].default == specs["cc_loss"].default == "mse" and specs["cc_labels"].default == "continuous"
    )


def test_published_presets_train_on_mse_with_continuous_values():
    for name, preset in CC_PRESETS.items():
        assert preset["cc_loss"] == "mse" and preset["cc_labels"] == "continuous", name
