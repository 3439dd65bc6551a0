"""The house's layers (docs/architecture.md): import rules read from the source with ``ast`` (not by importing), no
import cycles, the installed package list, and the enum tuples that fastcore and charts repeat equal to toys' own.

Every import statement counts, also one inside a function (a lazy import is still a dependency); imports made by
string (``importlib.import_module``) are not seen. Only the cycle check of modules within ``toys`` looks at
module-level imports alone, since only those run while a module is being imported.
"""

from __future__ import annotations

import ast
import importlib
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("toys", "fastcore", "charts", "ui", "bench", "pages")  # "pages" stands for pages/*.py and app.py
LIBRARY = ("toys", "fastcore", "charts")  # what pyproject.toml installs

NEVER = [  # (package, top-level name it never imports)
    *[(package, "streamlit") for package in LIBRARY],
    *[("toys", name) for name in ("charts", "ui", "pages", "bench")],
    *[("fastcore", name) for name in ("torch", "toys", "charts", "ui", "pages", "bench")],
    *[("charts", name) for name in ("toys", "fastcore", "ui", "pages", "bench", "torch")],
    *[("ui", name) for name in ("pages", "bench")],
]
CHARTS_THIRD_PARTY = {"numpy", "pandas", "altair"}  # all charts may import besides the standard library


# ------------------------------------------------------------------------------------------------ reading the source


def files(layer: str) -> list[Path]:
    if layer == "pages":
        return sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    return sorted(p for p in (ROOT / layer).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module of ``from ... import`` (relative imports resolved against ``path``'s package)."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _module_level(tree: ast.Module):
    """The statements that run when the module is imported: not function bodies, not ``if TYPE_CHECKING:``."""
    todo = list(tree.body)
    while todo:
        stmt = todo.pop()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            todo.extend(stmt.orelse)
            continue
        yield stmt
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(stmt, field, []))


def imports(path: Path, module_level: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``path``; ``from m import a`` gives ``m.a`` when that is a module
    of this repository, else ``m``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = _module_level(tree) if module_level else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((node.lineno, sub if _is_local_module(sub) else base))
    return list(dict.fromkeys(out))


def _is_local_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


# ------------------------------------------------------------------------------------------------ import rules


@pytest.mark.parametrize(("layer", "forbidden"), NEVER, ids=[f"{a}-never-{b}" for a, b in NEVER])
def test_never_imports(layer, forbidden):
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files(layer)
        for line, name in imports(path)
        if name.split(".")[0] == forbidden
    ]
    assert not found, f"{layer} must never import {forbidden}:\n" + "\n".join(found)


def test_charts_import_only_numpy_pandas_altair():
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files("charts")
        for line, name in imports(path)
        if (top := name.split(".")[0]) not in CHARTS_THIRD_PARTY | {"charts", "__future__"}
        and top not in sys.stdlib_module_names
    ]
    assert not found, "charts imports only numpy, pandas, altair and the standard library:\n" + "\n".join(found)


def test_no_cycle_between_layers():
    graph = {
        layer: {name.split(".")[0] for path in files(layer) for _, name in imports(path)} & set(LAYERS) - {layer}
        for layer in LAYERS
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between top-level packages: " + " -> ".join(cycle)


def test_no_import_cycle_among_toys_modules():
    modules = {module_name(path): path for path in files("toys")}
    graph = {
        name: {m for _, m in imports(path, module_level=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    cycle = find_cycle(graph)
    assert cycle is None, "module-level import cycle in toys: " + " -> ".join(cycle)


def _family(module: str) -> str | None:
    """``toys.tms.engines`` -> ``toys.tms``; None outside toys' subpackages (``toys``, ``toys.cli``, ``numpy``)."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "toys" and (ROOT / "toys" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return None


def test_no_cycle_between_toys_subpackages():
    graph: dict[str, set[str]] = {}
    for path in files("toys"):
        source = _family(module_name(path))
        if source is None:  # toys/__init__.py, cli.py, __main__.py: the facade over every family
            continue
        graph.setdefault(source, set()).update(
            target for _, name in imports(path) if (target := _family(name)) not in (None, source)
        )
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between toys' subpackages: " + " -> ".join(cycle)


def test_core_imports_no_family():
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in files("toys/core")
        for line, name in imports(path)
        if _family(name) not in (None, "toys.core")
    ]
    assert not found, "toys.core is what the families share; it imports none of them:\n" + "\n".join(found)


def test_pyproject_installs_every_library_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {module_name(init) for top in LIBRARY for init in (ROOT / top).rglob("__init__.py")}
    assert listed == on_disk, f"pyproject.toml lists {sorted(listed)}; the library's packages are {sorted(on_disk)}"


# ------------------------------------------------------------------------------------------------ repeated enums


def string_tuples(layer: str) -> dict[str, tuple[str, ...]]:
    """``module.NAME`` -> value of every module-level ``NAME = ("a", "b", ...)`` (2+ literal strings) in ``layer``."""
    out = {}
    for path in files(layer):
        for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target = stmt.target
            else:
                continue
            try:
                value = ast.literal_eval(stmt.value)
            except (ValueError, TypeError):  # not a literal: computed, or built from other names
                continue
            if not isinstance(target, ast.Name):
                continue
            if isinstance(value, (tuple, list)) and len(value) >= 2 and all(isinstance(v, str) for v in value):
                out[f"{module_name(path)}.{target.id}"] = tuple(value)
    return out


REPEATS = [  # (copy, relation, original): fastcore may not import toys, so it repeats these
    ("fastcore.tms.MODELS", "==", "toys.tms.config.MODEL_KINDS"),
    ("fastcore.tms.ACTIVATIONS", "==", "toys.core.config.ACTIVATIONS"),
    ("fastcore.tms.VALUE_LAWS", "==", "toys.tms.config.VALUE_LAWS"),
    ("fastcore.coactivation.KINDS", ">=", "toys.circuits.pipeline.SIMILARITIES"),  # fastcore computes more kinds
    ("fastcore.sae.ARCHS", "<=", "toys.decomp.sae.ARCHS"),  # the kinds the SAE kernel runs (jumprelu stays in torch)
]
SUBSETS = {(copy, original) for copy, relation, original in REPEATS if relation == "<="}


@pytest.mark.parametrize(("copy", "relation", "original"), REPEATS, ids=[r[0] for r in REPEATS])
def test_fastcore_repeats_toys_enums(copy, relation, original):
    tuples = string_tuples("fastcore") | string_tuples("toys")
    assert copy in tuples, f"{copy} is no longer a literal tuple of names: update REPEATS"
    assert original in tuples, f"{original} is no longer a literal tuple of names: update REPEATS"
    if relation == "==":
        assert tuples[copy] == tuples[original], f"{copy} = {tuples[copy]} differs from {original} = {tuples[original]}"
    elif relation == "<=":  # some of the original's names, in its order
        assert tuples[copy] == tuple(n for n in tuples[original] if n in tuples[copy]), (
            f"{copy} = {tuples[copy]} is not a part of {original} = {tuples[original]} in its order"
        )
    else:
        missing = set(tuples[original]) - set(tuples[copy])
        assert not missing, f"{copy} = {tuples[copy]} lacks {sorted(missing)} of {original} = {tuples[original]}"


def test_every_repeated_enum_matches_its_original():
    """Any tuple of names in fastcore or charts that repeats one of toys' or fastcore's (shares more than half of the
    names of the longer of the two), whatever it is called, equals it: same names, same spelling, same order, since
    names and codes (and colour scales) pair by position. A copy may know more names than its original (fastcore's
    similarity kinds beyond those the pipeline offers), and a copy declared a subset in ``REPEATS`` may know fewer, in
    the original's order (the SAE kernel's kinds)."""
    originals = string_tuples("toys") | string_tuples("fastcore")
    problems = []
    for copy, names in (string_tuples("fastcore") | string_tuples("charts")).items():
        for original, canon in originals.items():
            shared = set(names) & set(canon)
            if copy.split(".")[0] == original.split(".")[0] or 2 * len(shared) <= max(len(set(names)), len(set(canon))):
                continue  # the same package, or two enums that merely share a name or two
            if set(names) > set(canon) or names == canon:
                continue
            if (copy, original) in SUBSETS and names == tuple(n for n in canon if n in names):
                continue  # declared in REPEATS: a part of the original, in its order
            missing, extra = sorted(set(canon) - set(names)), sorted(set(names) - set(canon))
            how = f"lacks {missing}" * bool(missing) + " and " * bool(missing and extra) + f"adds {extra}" * bool(extra)
            problems.append(f"{copy} = {names} {how or 'lists the names in another order'}; {original} = {canon}")
    assert not problems, "\n".join(problems)


def test_charts_name_every_phase_and_polytope():
    phases = string_tuples("toys")["toys.tms.phase.PHASES"]
    polytopes = string_tuples("fastcore")["fastcore.geometry.POLYTOPE_NAMES"]
    chart_phase, chart_geometry = importlib.import_module("charts.phase"), importlib.import_module("charts.geometry")
    assert len(chart_phase.PHASE_COLORS) == len(phases), "charts.phase.PHASE_COLORS: one colour per phase"
    assert chart_phase.NO_PHASE not in phases
    assert len(chart_geometry.POLYTOPE_COLORS) == len(polytopes), "charts.geometry.POLYTOPE_COLORS: one per polytope"
    sticky = {name for *_, name in chart_geometry.STICKY}
    assert sticky <= set(polytopes), f"charts.geometry.STICKY names {sorted(sticky - set(polytopes))}: no polytope"
