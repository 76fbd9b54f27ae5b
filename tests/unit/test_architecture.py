"""The shape of the code, checked: no import cycles, and the deployed core stands alone.

The functions' archive is ``functions/`` and nothing else, so ``bale`` must import without the
dashboard (``web/``) or the tooling (``tools/``: the CLI, ``bale dev``, the emulators).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "bale": ROOT / "functions" / "bale",
    "dashboard": ROOT / "web" / "dashboard",
    "bale_tools": ROOT / "tools" / "bale_tools",
}


def _modules() -> dict[str, Path]:
    found = {}
    for top, base in SOURCES.items():
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = [top, *rel.parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module of ours that ``name`` imports, at any depth of its code (deferred imports
    inside functions count: they dodge a cycle at run time, they don't remove it)."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import sub` imports the submodule when there is one.
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_sources_are_found() -> None:
    assert "bale.api.upload" in MODULES and "bale_tools.cli" in MODULES and "dashboard" in MODULES


def test_no_import_cycles() -> None:
    # Package __init__ modules import nothing of ours (they are maps, not re-exports), so a
    # cycle here is a real one between two modules.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", ["dashboard", "bale_tools"])
def test_the_core_never_imports_outer_layers(layer: str) -> None:
    offenders = {
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        if name.split(".")[0] == "bale"
        for dep in deps
        if dep.split(".")[0] == layer
    }
    assert not offenders, sorted(offenders)


def test_the_dashboard_never_imports_the_tooling() -> None:
    offenders = {
        f"{n} imports {d}"
        for n, ds in GRAPH.items()
        if n.startswith("dashboard")
        for d in ds
        if d.startswith("bale_tools")
    }
    assert not offenders, sorted(offenders)


def test_the_deployed_archive_imports_without_the_tooling() -> None:
    """Import ``main`` and every ``bale`` module from ``functions/`` alone, as Cloud Functions
    would, with the dashboard and the tooling made unimportable."""
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, pkgutil, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dashboard", "bale_tools"):
                    raise ImportError(f"{{name}} is not deployed")
        sys.meta_path.insert(0, Block())
        sys.path[:0] = [{str(ROOT / "functions")!r}]
        import main, bale
        assert bale.__file__.startswith({str(ROOT / "functions")!r}), bale.__file__
        names = [m.name for m in pkgutil.walk_packages(bale.__path__, "bale.")]
        for name in names:
            importlib.import_module(name)
        for fn in ("upload", "simple", "oidc"):
            assert callable(getattr(main, fn))
        print(len(names))
        """
    )
    # -S: no site-packages .pth hooks (the editable install's finder would find the tooling);
    # the runtime's dependencies come from the current environment's site-packages instead.
    import site

    env_paths = [p for p in site.getsitepackages() if "site-packages" in p]
    boot = f"import sys; sys.path[:0] = {env_paths!r}\n"
    out = subprocess.run(
        [sys.executable, "-S", "-c", boot + script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 10


#: The modules that answer a request carrying credentials: each asks ``bale.access`` who may do
#: what (the Simple API's pages, files and Integrity API, uploads, the dashboard's team views).
ENTRY_POINTS = (
    "bale.api.upload",
    "bale.api.simple.views",
    "bale.api.simple.download",
    "bale.api.simple.integrity",
    "dashboard.services",
)
#: What deciding access takes: only ``bale.access`` uses these (their own modules define them).
DECIDING = {
    "authenticate_with": "bale.tokens.service",
    "TokenCache": "bale.tokens.cache",
    "token_from_header": "bale.tokens.credentials",
    "BROWSER_COOKIE": "bale.tokens.credentials",
    "role_from": "bale.tenancy.service",
    "roster_role": "bale.tenancy.service",
    "scope_refusal": "bale.access",
    "owner_refusal": "bale.access",
    "person_refusal": "bale.access",
}
#: Known users of a credential outside a request's access check: the dashboard sets the
#: browser cookie it signs in with.
DECIDING_ELSEWHERE = {("dashboard.auth", "BROWSER_COOKIE")}


def test_every_entry_point_asks_the_access_module() -> None:
    skipping = [name for name in ENTRY_POINTS if "bale.access" not in GRAPH[name]]
    assert not skipping, f"entry points that do not ask bale.access: {skipping}"
    # An entry point reading tokens itself would decide on its own: the API reaches tokens only
    # through bale.access, and nothing but bale.access holds the token cache.
    direct = sorted(
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        for dep in deps
        if (name.startswith("bale.api") and dep.startswith("bale.tokens"))
        or (dep == "bale.tokens.cache" and name != "bale.access")
    )
    assert not direct, direct


def test_only_the_access_module_decides() -> None:
    offenders = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            used = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else None
            )
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in DECIDING:
                        used = alias.name
            allowed = ("bale.access", DECIDING.get(used or ""))
            if used in DECIDING and name not in allowed and (name, used) not in DECIDING_ELSEWHERE:
                offenders.add(f"{name} uses {used}")
    assert not offenders, sorted(offenders)


#: The core's layers, lowest first: a module imports its own layer or lower ones, never higher
#: (tenancy reading a constant of packages was the last upward arrow).
LAYERS = (
    {"bale.errors", "bale.clock", "bale.settings", "bale.names", "bale.routes", "bale.forwarded"},
    {"bale.store"},
    {"bale.tenancy"},
    {"bale.tokens", "bale.provenance", "bale.packages", "bale.views", "bale.advisories"},
    # The door stands on tokens and tenancy alone, so the services that decide by hand who
    # may do what (enrolling a trusted accessor, burning a token) ask it too.
    {"bale.access"},
    {"bale.upstream", "bale.publishing"},
    {"bale.api", "bale.services", "bale.serving", "bale"},
)


def _layer(name: str) -> int:
    # A module's layer is its subpackage's (bale.api.simple.views: bale.api); "bale" itself
    # is only the package's __init__, so a new subpackage must be placed.
    top = ".".join(name.split(".")[:2])
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{top} is in no layer of LAYERS in test_architecture.py: place it there")


def test_no_upward_imports_in_the_core() -> None:
    upward = sorted(
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        if name.split(".")[0] == "bale"
        for dep in deps
        if dep.split(".")[0] == "bale" and _layer(dep) > _layer(name)
    )
    assert not upward, upward
