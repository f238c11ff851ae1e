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
    "inputs": {"patch", "latent", "models", "render", "engine", "cli"},
    "features": {"inputs", "patch", "latent", "models", "render", "engine", "cli"},
    "patch": {"inputs", "features", "latent", "models", "render", "engine", "cli"},
    "latent": {"inputs", "features", "patch", "render", "engine", "cli"},
    "models": {"inputs", "features", "patch", "render", "engine", "cli"},
    "render": {"inputs", "features", "patch", "latent", "models", "engine", "cli"},
    "control": {"inputs", "features", "patch", "latent", "models", "render", "engine", "cli"},
    "engine": {"cli"},
}
# third-party packages a pure layer must not pull in
FORBIDDEN_EXTERNAL = {
    "patch": {"torch", "moderngl", "glfw"},
    "features": {"torch", "moderngl", "glfw", "librosa"},
    "latent": {"moderngl", "glfw"},
    "models": {"moderngl", "glfw"},
    "inputs": {"torch", "moderngl", "glfw"},
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
