"""Sweeps: grids of a toy's configs × seeds, one batched model per shard, run on Ray (``python -m toys sweep SPEC``).

``toys.sweep.spec`` reads a spec and expands it into shards; ``toys.sweep.run`` trains them (Ray, or in this
process); ``toys.sweep.store`` writes and reads the result (Parquet, one row per instance, and safetensors
weights per shard); ``toys.sweep.rows`` says what each toy's row holds. Ray is imported only when a sweep runs.
"""
