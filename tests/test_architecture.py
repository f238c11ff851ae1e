"""The import arrows of ../shared/ARCHITECTURE.md, enforced by reading the source (no imports run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "latentperform"

# module (or package) -> project modules/packages it must never import
# inputs may use features: the live sound-card input runs the same analyzer as offline renders.
FORBIDDEN = {
    "events": {"*"},
    "clock": {"*"},
    "config": {"*"},
    "kinds": {"*"},  # the [model] vocabulary: read by patch (pure) and models alike
    "registry": {"clock", "config", "inputs", "features", "patch", "latent", "models", "render", "engine", "cli"},
    "inputs": {"patch", "latent", "models", "render", "engine", "cli"},
    "features": {"inputs", "patch", "latent", "models", "render", "engine", "cli"},
    "patch": {"inputs", "features", "latent", "models", "render", "engine", "cli"},
    "latent": {"inputs", "features", "patch", "render", "engine", "cli"},
    "models": {"inputs", "features", "patch", "render", "engine", "cli"},
    "render": {"inputs", "features", "patch", "latent", "models", "engine", "cli"},
    "control": {"inputs", "features", "patch", "latent", "models", "render", "engine", "cli"},
    "engine": {"cli"},
    # train grows a network of the models' trained kind; nothing but the CLI imports it
    "train": {"inputs", "features", "patch", "latent", "render", "atlas", "control", "engine", "service", "cli"},
    # the atlas uses models and latent (and the value types), never render or engine
    "atlas": {"inputs", "features", "patch", "render", "engine", "cli"},
    # service: process machinery (notify socket, supervisor, units, hours, sync over UDP), tested
    # with sockets and processes alone; the engine attaches it as parts, the patch reader uses its
    # pure hours parser; so it may import only the leaves (events, clock, config)
    "service": {"inputs", "features", "patch", "latent", "models", "render", "atlas", "control", "engine", "cli"},
}
# third-party packages a pure layer must not pull in
FORBIDDEN_EXTERNAL = {
    "kinds": {"torch", "numpy", "moderngl", "glfw"},
    "patch": {"torch", "moderngl", "glfw"},
    "features": {"torch", "moderngl", "glfw", "librosa"},
    "latent": {"moderngl", "glfw"},
    "models": {"moderngl", "glfw"},
    "inputs": {"torch", "moderngl", "glfw"},
    "atlas": {"moderngl", "glfw"},
    "train": {"moderngl", "glfw"},
    "control": {"torch", "moderngl", "glfw"},
}


def _project_imports(path: Path) -> tuple[set[str], set[str]]:
    """(project top-level parts imported, external top-level packages imported)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel_parts = path.relative_to(PKG).with_suffix("").parts
    project, external = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")
                if top[0] == "latentperform" and len(top) > 1:
                    project.add(top[1])
                else:
                    external.add(top[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "latentperform":
                    if len(parts) > 1:
                        project.add(parts[1])
                    else:
                        project.update(a.name for a in node.names)
                else:
                    external.add(parts[0])
            else:
                # relative: resolve against this file's package
                base = list(rel_parts[:-1])
                up = node.level - 1
                base = base[: len(base) - up] if up else base
                target = base + ((node.module or "").split(".") if node.module else [])
                if target:
                    project.add(target[0])
                else:
                    project.update(a.name for a in node.names)
    return project, external


def _files():
    return sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PKG)))
def test_import_arrows(path):
    layer = path.relative_to(PKG).with_suffix("").parts[0]
    project, external = _project_imports(path)
    project.discard(layer)
    forbidden = FORBIDDEN.get(layer, set())
    if "*" in forbidden:
        bad = project
    else:
        bad = project & forbidden
    assert not bad, f"{path.relative_to(PKG)} ({layer}) imports {sorted(bad)}, against the design"
    bad_ext = external & FORBIDDEN_EXTERNAL.get(layer, set())
    assert not bad_ext, f"{path.relative_to(PKG)} ({layer}) imports {sorted(bad_ext)}"


def test_render_touches_torch_in_one_place():
    users = [p.relative_to(PKG).as_posix() for p in (PKG / "render").rglob("*.py")
             if "torch" in _project_imports(p)[1]]
    assert len(users) <= 1, f"render imports torch in more than one module: {users}"


def test_nothing_imports_cli():
    for path in _files():
        if path.name == "cli.py":
            continue
        assert "cli" not in _project_imports(path)[0], path


# -- no import circle inside a package, by module ------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def _imported_modules(path: Path, modules: set[str]) -> set[str]:
    """Project modules `path` imports (anywhere in the file, functions included), as dotted
    names relative to the package root ("engine.core"; a package is its __init__)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(PKG).with_suffix("").parts
    here = list(rel[:-1])  # the package this file is in
    found: set[str] = set()

    def add(dotted: list[str], names=()) -> None:
        for name in names:  # `from pkg import module` imports the module
            if ".".join([*dotted, name]) in modules:
                found.add(".".join([*dotted, name]))
                continue
            if ".".join(dotted) in modules or not dotted:
                found.add(".".join(dotted))
        if not names and ".".join(dotted) in modules:
            found.add(".".join(dotted))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "latentperform":
                    add(parts[1:])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "latentperform":
                    continue
                base = parts[1:]
            else:
                up = node.level - 1
                base = here[: len(here) - up] if up else list(here)
                base = base + (node.module.split(".") if node.module else [])
            add(base, [a.name for a in node.names])
    found.discard(_module_name(path))
    found.discard("")
    return found


def _import_graph() -> dict[str, set[str]]:
    files = _files()
    modules = {_module_name(p) for p in files}
    return {_module_name(p): _imported_modules(p, modules) for p in files}


def _cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (as a list of modules, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def _package_of(module: str) -> str:
    return module.split(".")[0] if "." in module else module


@pytest.mark.parametrize("package", sorted({p.relative_to(PKG).parts[0] for p in _files()
                                            if (PKG / p.relative_to(PKG).parts[0]).is_dir()}))
def test_no_import_circle_inside_a_package(package):
    """Modules of one package import each other without a circle (function-level imports
    count: a circle hidden inside a function is still a circle)."""
    graph = _import_graph()
    inside = {m: {n for n in deps if _package_of(n) == package}
              for m, deps in graph.items() if _package_of(m) == package}
    cycle = _cycle_in(inside)
    assert cycle is None, f"import circle in {package}/: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_circle():
    assert _cycle_in({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}}) == ["a.x", "a.y", "a.z", "a.x"]
    assert _cycle_in({"a.x": {"a.y"}, "a.y": set()}) is None
    modules = {"engine", "engine.core", "engine.part"}
    src = PKG / "engine" / "core.py"
    assert "engine.part" in _imported_modules(src, modules)


def test_the_engines_core_knows_no_part_module():
    """The tick knows parts only through part.py; show.py decides which parts a show attaches."""
    graph = _import_graph()
    parts = {"engine.controllers", "engine.stage", "engine.outputs", "engine.commands", "engine.show"}
    assert not graph["engine.core"] & parts, sorted(graph["engine.core"] & parts)
    assert graph["engine.part"] <= {"events"}, graph["engine.part"]
