"""Computation in superposition: the absolute-value model and its relatives, compressed computation, universal AND."""
