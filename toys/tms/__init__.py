"""Toy models of superposition (Elhage et al. 2022): config, data, model, engines, trainers, metrics, phase
diagrams and the geometry of feature directions."""
