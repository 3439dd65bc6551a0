"""A sweep spec: a grid over a toy's config fields × seeds, and the shards it expands into.

A spec is a JSON or YAML mapping::

    toy: phase                      # any toy the library saves (toys.core.saved.MODELS)
    name: phase-2x1                 # optional, for the result's metadata
    config: {n_importance: 40, n_density: 25, seeds: 1, steps: 2000}   # fixed fields
    grid: {n_hidden: [1]}           # optional: field -> list of values, all combinations
    seeds: 10                       # the config's ``seed``: 0..9 (or a list of seeds)

Each combination of grid values × seed is one **shard**: one config, so one batched model with all of that config's
instances (a phase shard is a whole importance × density grid; a geometry shard is a whole sparsity sweep). Shards
are numbered in a fixed order (grid fields in the spec's order, the last varying fastest, then seeds) and every
shard's config is built, and so validated, before anything trains. YAML needs PyYAML (installed with Ray by
requirements-sweep.txt); JSON always works.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toys.core.saved import MODELS

MAX_SHARDS = 100_000
MAX_SPEC_BYTES = 1 << 20
KEYS = ("toy", "name", "config", "grid", "seeds")


@dataclass(frozen=True)
class Shard:
    index: int
    config: dict[str, Any]  # the full config (every field), as ``to_dict`` gives it
    grid: dict[str, Any]  # the grid values of this shard (without the seed)

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def key(self) -> str:
        """What identifies the shard's work: a hash of its whole config (toy, seed and every field), compared on resume."""
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Spec:
    toy: str
    name: str
    config: dict[str, Any]
    grid: dict[str, list] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])

    def to_dict(self) -> dict[str, Any]:
        return {"toy": self.toy, "name": self.name, "config": self.config, "grid": self.grid, "seeds": self.seeds}

    @property
    def n_shards(self) -> int:
        n = len(self.seeds)
        for values in self.grid.values():
            n *= len(values)
        return n

    def shards(self) -> list[Shard]:
        """Every shard, its config built and validated. ValueError names the first bad one."""
        cls = MODELS[self.toy].config
        names = list(self.grid)
        out = []
        combos = itertools.product(*(self.grid[n] for n in names)) if names else [()]
        for values in combos:
            point = dict(zip(names, values, strict=True))
            for seed in self.seeds:
                try:
                    cfg = cls.from_dict({**self.config, **point, "seed": seed})
                except (ValueError, TypeError) as e:
                    where = ", ".join(f"{k}={v!r}" for k, v in {**point, "seed": seed}.items())
                    raise ValueError(f"shard {len(out)} ({where}): {e}") from None
                out.append(Shard(len(out), cfg.to_dict(), point))
        return out


def _plain(value: Any, where: str) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    raise ValueError(f"{where}: {value!r} is not a number, string or boolean")


def parse_spec(data: Any) -> Spec:
    """A ``Spec`` from a parsed mapping; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a sweep spec is a mapping with toy, config, grid and seeds")
    unknown = sorted(set(map(str, data)) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; a spec has {', '.join(KEYS)}")
    toy = data.get("toy")
    if toy not in MODELS:
        raise ValueError(f"toy {toy!r} is not one of {', '.join(sorted(MODELS))}")
    config = data.get("config") or {}
    grid = data.get("grid") or {}
    if not isinstance(config, dict) or not isinstance(grid, dict):
        raise ValueError("config and grid are mappings of field names")
    fields = set(MODELS[toy].config.__dataclass_fields__)
    for part, names in (("config", config), ("grid", grid)):
        bad = sorted(set(map(str, names)) - fields)
        if bad:
            raise ValueError(f"{part}: {', '.join(bad)} is not a field of {toy}'s config")
        if "seed" in names:
            raise ValueError(f"{part}: give seeds with the spec's 'seeds' key, not the seed field")
    config = {k: _plain(v, f"config.{k}") for k, v in config.items()}
    both = sorted(set(config) & set(grid))
    if both:
        raise ValueError(f"{', '.join(both)} is both fixed in config and swept in grid")
    clean_grid = {}
    for k, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid.{k} is a non-empty list of values")
        clean_grid[k] = [_plain(v, f"grid.{k}") for v in values]
    seeds = data.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, (int, list)):
        raise ValueError("seeds is a count (0..n-1) or a list of seeds")
    if isinstance(seeds, int):
        if not 1 <= seeds <= 10_000:
            raise ValueError(f"seeds={seeds} is out of range: 1 to 10,000")
        seeds = list(range(seeds))
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise ValueError("seeds must be non-negative integers")
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds repeat")
    name = data.get("name") or toy
    if not isinstance(name, str):
        raise ValueError("name is a string")
    spec = Spec(toy, name, config, clean_grid, list(seeds))
    if spec.n_shards > MAX_SHARDS:
        raise ValueError(f"{spec.n_shards:,} shards is more than {MAX_SHARDS:,}: put more instances in each")
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read a spec file (``.json``, ``.yaml`` or ``.yml``)."""
    path = Path(path)
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SPEC_BYTES:,} bytes: not a sweep spec")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(
                "reading YAML needs PyYAML: pip install -r requirements-sweep.txt (or write the spec as JSON)"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"{path} is not valid YAML: {e}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
    return parse_spec(data)
