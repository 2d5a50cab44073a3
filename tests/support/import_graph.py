"""The import graph of a package, read from its source with `ast` (nothing is imported).

Every import statement counts, wherever it stands: at the top, inside a function, under
`if TYPE_CHECKING:`; so does a lazy import by name (a module that calls
`importlib.import_module` imports every module it names in a string). A layering is about who
knows whom, not about when Python runs the line.

`python -m tests.support.import_graph` prints the graph between emulator's packages (what the
README's architecture section shows) and every module-level cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "emulator"


def module_names(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    names: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The package's own modules that `module` imports."""
    known = set(known)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    nodes = list(ast.walk(ast.parse(path.read_text(), str(path))))
    if any(_calls_import_module(node) for node in nodes):
        found |= {node.value for node in nodes
                  if isinstance(node, ast.Constant) and node.value in known}
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {_nearest(alias.name, known) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.module, node.level)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else _nearest(base, known))
    found.discard("")
    found.discard(module)
    return found


def module_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    names = module_names(root, package)
    return {name: imports_of(name, path, names) for name, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def package_of(module: str, package: str = PACKAGE) -> str:
    """`emulator.jobs.runner` -> `jobs`; a top-level module keeps its name (`contract`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else package


def readme_layers(readme: Path = ROOT / "README.md") -> dict[str, set[str]]:
    """What the README's architecture list says each package may import (between the
    <!-- import-graph --> markers, one line each: `- `jobs/`: ... May import: `a`, `b`.`)."""
    text = readme.read_text()
    block = text.split("<!-- import-graph -->", 1)[1].split("<!-- /import-graph -->", 1)[0]
    layers: dict[str, set[str]] = {}
    for line in block.strip().splitlines():
        name = line.split("`")[1].rstrip("/").removesuffix(".py")
        allowed = line.rsplit("May import:", 1)[1]
        layers[PACKAGE if name == "__init__" else name] = set(allowed.split("`")[1::2])
    return layers


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Who imports whom between the package's sub-packages and top-level modules."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = package_of(module)
        out.setdefault(mine, set()).update(
            package_of(t) for t in targets if package_of(t) != mine)
    return out


def _calls_import_module(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__")


def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _nearest(name: str, known: set[str]) -> str:
    """The longest prefix of `name` that is one of our modules ("" for a foreign import)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return ""


def main() -> int:
    graph = module_graph()
    for pkg, targets in sorted(package_graph(graph).items()):
        allowed = ", ".join(f"`{t}`" for t in sorted(targets)) or "nothing of ours"
        print(f"{pkg:14} May import: {allowed}.")
    cycle = find_cycle(graph)
    print("cycle: " + " -> ".join(cycle) if cycle else "no import cycle")
    return 1 if cycle else 0


if __name__ == "__main__":
    sys.exit(main())
