"""The package's rooms and the one-way dependencies between them.

Read statically from the sources (every ``import`` statement, at any depth), so that a lazy
import inside a function counts as much as one at the top of a module:

* only ``nbcupy/backends/`` imports CuPy;
* the experiment models import no other room; the engine reads only the experiment models, the
  backends and itself; file formats read the models but not the nanoBragg layer or the
  engine; the nanoBragg layer never reaches up to the API or the command line;
* ``nbcupy/`` itself holds at most five modules, and every folder's ``__init__.py`` says what
  belongs there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nbcupy"
ROOMS = ("experiment", "nanobragg", "engine", "backends", "io", "series")

#: room -> the rooms (and top-level modules) of nbcupy it may import
ALLOWED = {
    "experiment": {"experiment", "errors"},
    "backends": {"backends", "errors"},
    "engine": {"engine", "experiment", "backends", "errors"},
    "io": {"io", "experiment", "backends", "errors"},
    "nanobragg": {"nanobragg", "experiment", "io", "backends", "errors"},
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.append(mod)
            names.extend(f"{mod}.{alias.name}" for alias in node.names)
    return names


def _room(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def test_only_the_backends_import_cupy():
    offenders = [str(p.relative_to(PACKAGE)) for p in _modules()
                 if _room(p) != "backends"
                 and any(n == "cupy" or n.startswith("cupy.") for n in _imports(p))]
    assert offenders == []


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_dependencies_run_one_way(room):
    bad = []
    for path in _modules():
        if _room(path) != room:
            continue
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "nbcupy" or len(parts) < 2:
                continue
            target = parts[1]
            if target not in ALLOWED[room] and not target.startswith("_"):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert bad == []


def test_top_level_is_small_and_every_folder_says_what_belongs_there():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 5, top
    for folder in sorted(p for p in PACKAGE.rglob("*") if p.is_dir()
                         and p.name != "__pycache__" and any(p.glob("*.py"))):
        init = folder / "__init__.py"
        assert init.exists(), folder
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "belongs here" in " ".join(doc.lower().split()), f"{init}: say what belongs"
