"""Sparse dictionaries (SAEs, transcoders) trained on activations whose true features are known, and scored
against them: ``sources`` (synthetic features, a TMS model's hidden layer, a planted-circuits MLP), ``sae`` (the
config and trainer of relu_l1, topk, batchtopk and jumprelu dictionaries), ``scores`` (MCC, recovery, L0,
shrinkage, absorption, splitting), ``cli`` (train and score headless, one JSON line)."""
