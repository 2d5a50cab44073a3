"""No module under emulator/ imports, however indirectly, the module that imports it."""

from __future__ import annotations

from pathlib import Path

from tests.support.import_graph import (
    find_cycle,
    module_graph,
    package_graph,
    readme_layers,
)


def test_emulator_has_no_import_cycle() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.b import run\n",
        "b.py": "def run():\n    from pkg import a\n    return a\n",
    })
    assert find_cycle(module_graph(root, "pkg")) == ["pkg.a", "pkg.b", "pkg.a"]


def test_cycles_through_type_checking_relative_and_package_imports_are_found(
        tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "sub/__init__.py": "from .one import X\n",
        "sub/one.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    import pkg.two\nX = 1\n",
        "two.py": "from pkg.sub import X\n",
    })
    cycle = find_cycle(module_graph(root, "pkg"))
    assert cycle is not None and set(cycle) == {"pkg.sub", "pkg.sub.one", "pkg.two"}


def test_a_lazy_import_by_name_counts(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "api.py": "import importlib\nLAZY = {'Server': 'pkg.server'}\n"
                  "def get(name):\n    return importlib.import_module(LAZY[name])\n",
        "server.py": "from pkg.api import get\n",
        "other.py": "COMMAND = ['python', '-m', 'pkg.server']  # no import_module here\n",
    })
    graph = module_graph(root, "pkg")
    assert graph["pkg.api"] == {"pkg.server"} and graph["pkg.other"] == set()
    assert find_cycle(graph) == ["pkg.api", "pkg.server", "pkg.api"]


def test_a_graph_without_cycles_passes_and_foreign_imports_do_not_count(
        tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "import os\n",
        "low.py": "import json\nfrom os import path\n",
        "high.py": "from pkg import low\nfrom pkg.low import path\n",
    })
    graph = module_graph(root, "pkg")
    assert graph == {"pkg": set(), "pkg.low": set(), "pkg.high": {"pkg.low"}}
    assert find_cycle(graph) is None


def test_the_package_graph_groups_modules_by_package() -> None:
    packages = package_graph(module_graph())
    assert "docker" not in packages  # only our own modules
    assert "jobs" in packages["api"] and "api" not in packages["jobs"]


def test_the_readme_architecture_lists_what_each_package_imports() -> None:
    actual = package_graph(module_graph())
    assert readme_layers() == actual, (
        "README's architecture list differs from the code; `python -m tests.support.import_graph`"
        " prints what each package imports")
