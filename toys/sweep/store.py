"""A sweep's files, and reading its result back.

``OUT/sweep.json`` holds the spec (a re-run into the same folder must bring the same spec). Each finished shard
leaves ``OUT/shards/NNNNN.safetensors`` and ``.json`` (its weights and config, ``toys.core.saved``: loadable with
``load_model``) and, written last and atomically, ``OUT/shards/NNNNN.parquet`` (its instances' rows): a shard with
its Parquet file and the right key is finished, and a re-run skips it. ``OUT/results.parquet`` gathers every
finished shard's rows: one row per instance with ``shard``, ``seed``, the shard's config fields (``cfg_<field>``)
and the instance's coordinates and final metrics (``toys.sweep.rows``). Its schema metadata says what it is
(format, version, toy, spec); ``read_results`` refuses a file that is not one, or is another toy's.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from toys.sweep.spec import Shard, Spec

FORMAT = "superposition-playground/sweep"
VERSION = 1
RESULTS = "results.parquet"
SPEC_FILE = "sweep.json"
MAX_RESULT_BYTES = 200 * 2**20
MAX_ROWS = 1_000_000
MAX_UNPACKED_BYTES = 256 * 2**20
CFG = "cfg_"  # prefix of the shard's config fields among a row's columns

# what each page needs of a result's rows, per toy
REQUIRED = {
    "phase": ("cell_row", "cell_col", "r", "p", "expected_loss", "phase_code", "extra_norm"),
    "tms": ("p", "dims_per_feature", "n_represented", "final_loss"),
    "deep": ("p", "neurons", "n_functions", "trained_functions", "naive_functions", "beats_naive"),
    "uand": ("neurons", "n_functions", "trained_functions", "naive_functions", "beats_naive"),
    "cc": ("p", "neurons", "n_functions", "trained_functions", "naive_functions", "beats_naive"),
}


def shard_stem(out: Path, index: int) -> Path:
    return Path(out) / "shards" / f"{index:05d}"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _metadata(spec: Spec, **extra: str) -> dict[bytes, bytes]:
    meta = {"format": FORMAT, "version": str(VERSION), "toy": spec.toy, "spec": json.dumps(spec.to_dict()), **extra}
    return {k.encode(): v.encode() for k, v in meta.items()}


def prepare(out: str | Path, spec: Spec) -> Path:
    """Create ``out`` for ``spec``, or check that it already holds this spec's sweep."""
    out = Path(out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    path = out / SPEC_FILE
    mine = {"format": FORMAT, "version": VERSION, "spec": spec.to_dict()}
    if path.exists():
        try:
            theirs = json.loads(path.read_text())
        except json.JSONDecodeError:
            theirs = None
        if theirs != mine:
            raise ValueError(f"{out} holds another sweep (its {SPEC_FILE} differs): choose another --out or delete it")
    else:
        _atomic_write(path, json.dumps(mine, indent=1).encode())
    return out


def shard_rows_table(spec: Spec, shard: Shard, rows: list[dict]):
    import pyarrow as pa

    head = {"shard": shard.index, "seed": shard.seed} | {CFG + k: v for k, v in shard.config.items()}
    table = pa.Table.from_pylist([head | r for r in rows])
    return table.replace_schema_metadata(_metadata(spec, shard_key=shard.key))


def write_shard(out: Path, spec: Spec, shard: Shard, rows: list[dict], weights: bytes, config: str) -> None:
    """A finished shard's files; the Parquet file last, so that its presence means the shard is complete."""
    import pyarrow.parquet as pq

    stem = shard_stem(out, shard.index)
    _atomic_write(stem.with_suffix(".safetensors"), weights)
    _atomic_write(stem.with_suffix(".json"), config.encode())
    buf = io.BytesIO()
    pq.write_table(shard_rows_table(spec, shard, rows), buf)
    _atomic_write(stem.with_suffix(".parquet"), buf.getvalue())


def finished(out: Path, shard: Shard) -> bool:
    """Whether ``shard``'s rows are on disk and were made from the same config."""
    import pyarrow.parquet as pq

    path = shard_stem(out, shard.index).with_suffix(".parquet")
    if not path.exists():
        return False
    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception:  # noqa: BLE001  a torn or foreign file: train the shard again
        return False
    return meta.get(b"shard_key") == shard.key.encode()


def _rows(out: Path, shard: Shard, pq):
    """The table of ``shard``'s rows if they are on disk and were made from its config (one read), else None."""
    path = shard_stem(out, shard.index).with_suffix(".parquet")
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except Exception:  # noqa: BLE001  a torn or foreign file: as if not finished
        return None
    return table if (table.schema.metadata or {}).get(b"shard_key") == shard.key.encode() else None


def gather(out: Path, spec: Spec, shards: list[Shard]) -> tuple[Path, int]:
    """Write ``results.parquet`` from the finished shards' rows -> (its path, rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [t for t in (_rows(out, s, pq) for s in shards) if t is not None]
    if tables:
        table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables], promote_options="permissive")
    else:
        table = pa.table({"shard": pa.array([], pa.int64())})
    done = len(tables)
    table = table.replace_schema_metadata(_metadata(spec, shards=str(len(shards)), finished=str(done)))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    path = Path(out) / RESULTS
    _atomic_write(path, buf.getvalue())
    return path, table.num_rows


# ------------------------------------------------------------------------------------------------ reading


def read_results(source, toy: str | None = None, max_bytes: int = MAX_RESULT_BYTES):
    """A sweep's ``results.parquet`` (a path, bytes or a file-like object) -> (DataFrame, metadata dict with toy,
    spec, shards and finished). ValueError, saying why, for a file that is not a sweep result, is too large, is
    another toy's (when ``toy`` is given) or lacks the columns its toy's pages draw.

    A file is measured before its rows are read: its size, its row count, and the uncompressed size of the columns
    read; only scalar columns are read (numbers, booleans, and strings kept dictionary-encoded), so a small hostile
    file cannot expand into gigabytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(source, (str, os.PathLike)):
        size = os.path.getsize(source)
        if size > max_bytes:
            raise ValueError(f"the file is {size:,} bytes; a sweep result may be at most {max_bytes:,}")
        data = Path(source).read_bytes()
    else:
        data = source if isinstance(source, bytes) else source.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ValueError(f"the file is larger than {max_bytes:,} bytes: a sweep result may be at most that")
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        schema = pf.schema_arrow
        md = pf.metadata
    except Exception as e:  # noqa: BLE001  pyarrow raises several kinds on a file that is not Parquet
        raise ValueError(f"not a Parquet file ({type(e).__name__})") from None
    meta = schema.metadata or {}
    if meta.get(b"format") != FORMAT.encode():
        raise ValueError("a Parquet file, but not a sweep result of this app (python -m toys sweep writes those)")
    version = meta.get(b"version", b"?").decode(errors="replace")
    if version != str(VERSION):
        raise ValueError(f"sweep result version {version[:20]}; this app reads version {VERSION}")
    info = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in meta.items()}
    try:
        info["spec"] = json.loads(info.get("spec", "{}"))
    except json.JSONDecodeError:
        raise ValueError("the result's spec metadata is not JSON") from None
    if not isinstance(info["spec"], dict):
        raise ValueError("the result's spec metadata is not a spec")
    if toy is not None and info.get("toy") != toy:
        raise ValueError(f"this is a sweep of the {info.get('toy')!r} toy; this page draws {toy!r} sweeps")
    if md.num_rows > MAX_ROWS:
        raise ValueError(f"{md.num_rows:,} rows; a page draws at most {MAX_ROWS:,}")
    if not md.num_rows:
        raise ValueError("the result has no rows: no shard has finished yet")
    need = ("shard", "seed", "instance") + REQUIRED.get(info.get("toy", ""), ())
    missing = [c for c in need if c not in schema.names]
    if missing:
        raise ValueError(f"the result lacks column(s) {', '.join(missing)}")
    scalar = [f.name for f in schema if _scalar(f.type)]
    numeric = [f.name for f in schema if _scalar(f.type) and not pa.types.is_string(f.type)]
    wrong = [c for c in need if c not in numeric]
    if wrong:
        raise ValueError(f"column(s) {', '.join(wrong)} are not numbers")
    idx = [i for i, name in enumerate(schema.names) if name in scalar]
    unpacked = sum(md.row_group(g).column(i).total_uncompressed_size for g in range(md.num_row_groups) for i in idx)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ValueError(f"its columns unpack to {unpacked:,} bytes; a page reads at most {MAX_UNPACKED_BYTES:,}")
    strings = [f.name for f in schema if f.name in scalar and pa.types.is_string(f.type)]
    try:
        table = pq.read_table(pa.BufferReader(data), columns=scalar, read_dictionary=strings)
        df = table.to_pandas()
    except Exception as e:  # noqa: BLE001  any failure to decode is the file's
        raise ValueError(f"the Parquet file could not be read ({type(e).__name__})") from None
    return df, info


def _scalar(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)


def grid_groups(df, info: dict[str, Any]) -> dict[str, Any]:
    """The result's grid points (the spec's grid fields, without seeds): label -> boolean row mask."""
    fields = list(info.get("spec", {}).get("grid", {}))
    cols = [CFG + f for f in fields if CFG + f in df.columns]
    if not cols:
        return {"all": df.index == df.index}
    groups = {}
    for values, part in df.groupby(cols, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(f"{f} = {v}" for f, v in zip(fields, values, strict=False))
        groups[label] = df.index.isin(part.index)
    return groups
