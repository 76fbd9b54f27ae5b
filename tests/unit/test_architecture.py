"""The shape of the code, checked: no import cycles, the deployed core stands alone, and who may
do what is decided at one door (``bale.access``), which every entry point asks.

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
    "bale.api.advisories",
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


# -- one door: nothing else compares kinds, roles or permissions ---------------------------

#: What a decision about access compares: a token's kind, permission or owner, whose token it
#: is, a person's role; the members of the enums naming them; a role or permission spelled as a
#: literal; and a person's role read from the team (``role_of(...) is None``: a membership test).
#: Token kinds spelled as literals are caught through ``.kind``: a bare ``"oidc"`` or ``"access"``
#: is as often a provider's name or a page's.
COMPARED_ATTRS = frozenset({"kind", "permission", "role", "owner", "person"})
COMPARED_ENUMS = frozenset({"Role", "TokenKind", "Permission"})
COMPARED_VALUES = frozenset({"admin", "member", "read", "upload", "publish", "write"})
COMPARED_CALLS = frozenset({"role_of", "role_from", "roster_role", "member_role"})
#: Where such comparisons belong (a module and its submodules), and why.
COMPARING = {
    "bale.access": "the door: every decision of who may do what",
    "bale.tokens": "the token records the door reads: a kind picks a new token's ID prefix, its "
    "audit entry and the queries of a person's tokens; revoking one's own token or a member's "
    "login checks whose it is in the transaction that writes",
    "bale.tenancy.service": "the roster the door reads: who is an admin is what it stores, and "
    "the last admin of a team stays one",
}


def _compared(node: ast.expr) -> str | None:
    """What ``node``, one side of a comparison, names that only access may compare."""
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in COMPARED_ENUMS:
            return f"{node.value.id}.{node.attr}"
        if node.attr in COMPARED_ATTRS:
            return f".{node.attr}"
    if isinstance(node, ast.Constant) and node.value in COMPARED_VALUES:
        return repr(node.value)
    if isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called in COMPARED_CALLS:
            return f"{called}()"
    return None


def access_comparisons(name: str, source: str) -> list[str]:
    """The comparisons in ``source`` (module ``name``) that decide access: ``path:line what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = []
            for side in [node.left, *node.comparators]:
                sides += side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
        elif isinstance(node, ast.Match):  # match token.kind: case TokenKind.LOGIN: ...
            values = [p for case in node.cases for p in ast.walk(case.pattern)]
            sides = [node.subject] + [p.value for p in values if isinstance(p, ast.MatchValue)]
        else:
            continue
        named = sorted({w for side in sides if (w := _compared(side))})
        if named:
            found.append(f"{name}:{node.lineno} compares {', '.join(named)}: {ast.unparse(node)}")
    return found


def test_the_comparison_check_sees_a_decision():
    """The check below can fail: each kind of comparison it looks for is found."""
    decisions = (
        'token.kind != "oidc"',
        "role == Role.ADMIN",
        "x in (Permission.UPLOAD, Permission.PUBLISH)",
        'permission == "upload"',
        "t.person == me",
        "tenancy.role_of(team, email) is None",
        "match token.kind:\n    case TokenKind.LOGIN:\n        pass",
    )
    for src in decisions:
        assert access_comparisons("m", src), src
    for src in ('provider == "oidc"', "token.team != team", "len(parts) == 2"):
        assert not access_comparisons("m", src), src


def test_only_the_access_module_compares_kinds_roles_and_permissions() -> None:
    offenders = [
        hit
        for name, path in sorted(MODULES.items())
        if name.split(".")[0] in ("bale", "dashboard")
        and not any(name == m or name.startswith(m + ".") for m in COMPARING)
        for hit in access_comparisons(name, path.read_text())
    ]
    assert not offenders, "decide these in bale.access:\n" + "\n".join(offenders)


# -- every entry point goes through the door ------------------------------------------------

#: The door: what a request handler asks before it reads or changes a team's data.
DOORS = frozenset(
    f"bale.access:{f}"
    for f in (
        "require",
        "require_cached",
        "authenticate",
        "authenticate_raw",
        "team_role",
        "require_scheduler",
    )
)
#: Trusted Publishing's and Trusted Access's exchanges: a handler that only exchanges a CI's
#: OIDC token asks no door, since its credential is that OIDC token and the enrollment decides
#: what it gets (the Bale token it mints is decided by bale.access at each use). Such a handler
#: must then never authenticate a Bale token itself.
EXCHANGES = frozenset(
    {
        "bale.publishing.trusted:TrustedPublishing.mint",
        "bale.publishing.trusted_access:TrustedAccess.exchange",
    }
)
AUTHENTICATES = frozenset(
    {"bale.tokens.service:Tokens.authenticate", "bale.tokens.service:Tokens.authenticate_with"}
)
#: The dashboard's decorators that ask the door for a route with ``<team>`` in its URL.
TEAM_DOORS = frozenset({"team_member", "team_admin"})
MAIN = ROOT / "functions" / "main.py"


def _bindings(name: str, tree: ast.Module, is_pkg: bool) -> dict[str, tuple[str, str | None]]:
    """What each imported name of a module stands for: (module, None) or (module, attribute)."""
    out: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname and a.name in MODULES:
                    out[a.asname] = (a.name, None)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{mod}.{a.name}"
                out[a.asname or a.name] = (full, None) if full in MODULES else (mod, a.name)
    return out


def _defs(tree: ast.Module) -> dict[str, ast.AST]:
    """A module's functions and its classes' methods (``Class.method``), by name."""
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"{node.name}.{item.name}"] = item
    return out


def _references(module: str, body: ast.AST, binds, local: set[str], cls: str | None) -> set[str]:
    """The functions and methods (``module:name``) a body names: called, decorated with, or
    handed on (a dispatch table names its handlers without calling them)."""

    def resolve(n: str) -> tuple[str, str] | None:
        if n in local:
            return module, n
        mod, attr = binds.get(n, (None, None))
        return (mod, attr) if mod and attr else None

    instances = {}  # x = SomeClass(...): x.method is SomeClass.method
    for node in ast.walk(body):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            made = node.value.func
            if isinstance(made, ast.Name) and (where := resolve(made.id)):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        instances[target.id] = where
    out = set()
    for node in ast.walk(body):
        if isinstance(node, ast.Name) and (where := resolve(node.id)):
            out.add(f"{where[0]}:{where[1]}")
        elif isinstance(node, ast.Attribute):
            recv = node.value
            if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Name):
                recv_class = resolve(recv.func.id)
            elif isinstance(recv, ast.Name):
                if recv.id == "self" and cls:
                    recv_class = (module, cls)
                elif recv.id in instances:
                    recv_class = instances[recv.id]
                else:
                    recv_class = None
                    mod, attr = binds.get(recv.id, (None, None))
                    if mod and attr is None:
                        out.add(f"{mod}:{node.attr}")
            else:
                recv_class = None
            if recv_class:
                out.add(f"{recv_class[0]}:{recv_class[1]}.{node.attr}")
    return out


def _call_graph() -> tuple[dict[str, set[str]], dict[str, ast.AST]]:
    """Who names whom, over every function and method of ours (``module:name``), plus for each
    module its top level (``module:``: tables and routes declared outside any function), and
    ``main`` (the functions' entry points)."""
    graph: dict[str, set[str]] = {}
    defs: dict[str, ast.AST] = {}
    sources = [(n, p) for n, p in MODULES.items()] + [("main", MAIN)]
    for name, path in sources:
        tree = ast.parse(path.read_text(), str(path))
        binds = _bindings(name, tree, path.name == "__init__.py")
        mine = _defs(tree)
        local = set(mine) | {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        for qual, node in mine.items():
            cls = qual.split(".")[0] if "." in qual else None
            graph[f"{name}:{qual}"] = _references(name, node, binds, local, cls)
            defs[f"{name}:{qual}"] = node
        top = ast.Module(
            body=[
                n
                for n in tree.body
                if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            ],
            type_ignores=[],
        )
        graph[f"{name}:"] = _references(name, top, binds, local, None)
    return graph, defs


CALLS, DEFS = _call_graph()


def _reach(start: str) -> set[str]:
    """Everything ``start`` may run (a module's top level comes with any of its functions)."""
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo += CALLS.get(node, ())
        todo.append(node.partition(":")[0] + ":")
    return seen


def _takes_request(node: ast.AST) -> bool:
    args = getattr(node, "args", None)
    return args is not None and any(a.arg == "request" for a in [*args.posonlyargs, *args.args])


def _opens_stores(qual: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a function opens the stores: calls ``get_stores``, or a helper (one not given
    the request) that does."""
    node = DEFS.get(qual)
    if node is None or qual in seen:
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            called = sub.func.attr if isinstance(sub.func, ast.Attribute) else getattr(sub.func, "id", "")
            if called == "get_stores":
                return True
    return any(
        _opens_stores(dep, seen | {qual})
        for dep in CALLS[qual]
        if dep in DEFS and not _takes_request(DEFS[dep]) and dep.partition(":")[0].startswith("bale.api")
    )


def _handlers(target: str) -> list[str]:
    """The request handlers an entry point runs that read a team's data: each function it
    reaches that is given the request and opens the stores."""
    return sorted(q for q in _reach(target) if q in DEFS and _takes_request(DEFS[q]) and _opens_stores(q))


def _targets() -> list[str]:
    tree = ast.parse(MAIN.read_text())
    return [
        f"main:{n.name}"
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
        and any(ast.unparse(d) == "functions_framework.http" for d in n.decorator_list)
    ]


def test_every_function_entry_point_goes_through_the_door() -> None:
    targets = _targets()
    assert targets == ["main:upload", "main:simple", "main:oidc", "main:advisories_refresh"]
    skipping = []
    for target in targets:
        handlers = _handlers(target)
        # The check looks at something: every entry point reaches a handler of team data.
        assert handlers, f"{target} reaches no function that is given the request and opens the stores"
        for h in handlers:
            reach = _reach(h)
            if not (reach & DOORS or (reach & EXCHANGES and not reach & AUTHENTICATES)):
                skipping.append(f"{target} -> {h}")
    assert not skipping, "request handlers that never ask bale.access:\n" + "\n".join(skipping)


def _routes() -> list[tuple[str, str, list[str]]]:
    """The dashboard's routes: (module:function, URL rule with its blueprint's prefix, decorators)."""
    out = []
    for name, path in sorted(MODULES.items()):
        if not name.startswith("dashboard"):
            continue
        tree = ast.parse(path.read_text())
        prefix = ""
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "Blueprint":
                prefix = next((k.value.value for k in node.keywords if k.arg == "url_prefix"), "")
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            rules = [
                d.args[0].value
                for d in node.decorator_list
                if isinstance(d, ast.Call)
                and ast.unparse(d.func) in ("bp.get", "bp.post", "bp.route")
                and d.args
                and isinstance(d.args[0], ast.Constant)
            ]
            names = [ast.unparse(d) for d in node.decorator_list]
            out += [(f"{name}:{node.name}", prefix + rule, names) for rule in rules]
    return out


def test_every_dashboard_route_of_a_team_goes_through_the_door() -> None:
    routes = _routes()
    of_a_team = [r for r in routes if "<team>" in r[1]]
    assert len(of_a_team) >= 30, (
        f"found only {len(of_a_team)} team routes of {len(routes)}: is the parse right?"
    )
    skipping = [f"{q} ({rule})" for q, rule, decorators in of_a_team if not TEAM_DOORS & set(decorators)]
    assert not skipping, f"team routes without {sorted(TEAM_DOORS)}:\n" + "\n".join(skipping)
    # And the decorators ask bale.access (a decorator that stopped asking would pass above).
    for decorator in sorted(TEAM_DOORS):
        assert _reach(f"dashboard.services:{decorator}") & DOORS, f"{decorator} does not ask bale.access"


# -- paths: declared in bale.routes, never parsed by hand -------------------------------------------

#: What the API may do with a request's path: match it against the declared routes, log it, and
#: ask whether it ends in a slash (the Simple API redirects to its canonical URL).
PATH_USES = {"match", "rule_for", "prefix_of", "debug", "info", "warning", "error", "exception"}


def _hand_parsed_paths(source: str) -> list[str]:
    """Where ``source`` reads a request's path itself rather than through :mod:`bale.routes`:
    ``request.path`` split, sliced, compared or kept aside for later (any use but the ones of
    PATH_USES and ``.endswith("/")``), ``PATH_INFO`` read, a path's parts counted."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.FunctionDef) and node.name == "route_parts":
            found.append(f"{where}: def route_parts")
        elif isinstance(node, ast.Constant) and node.value == "PATH_INFO":
            found.append(f"{where}: PATH_INFO")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "len"
            and any(isinstance(a, ast.Name) and a.id in ("parts", "segments") for a in node.args)
        ):
            found.append(f"{where}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ("path", "full_path")
            and isinstance(node.value, ast.Name)
            and node.value.id == "request"
        ):
            parent = parents.get(node)
            if isinstance(parent, ast.Call) and node in parent.args:
                callee = parent.func
                name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
                if name in PATH_USES:
                    continue
            if (
                isinstance(parent, ast.Attribute)
                and parent.attr == "endswith"
                and isinstance(call := parents.get(parent), ast.Call)
                and [ast.unparse(a) for a in call.args] == ["'/'"]
            ):
                continue
            found.append(f"{where}: {ast.unparse(parent) if parent else 'request.path'}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        'parts = request.path.split("/")',
        'parts = route_parts(request.path, "/simple/")',
        'path = request.path\nparts = [p for p in path.split("/") if p]',
        "if len(parts) != 2:\n    pass",
        'rest = request.path[len("/simple/"):]',
        'if request.path.startswith("/files/"):\n    pass',
        'team = request.environ["PATH_INFO"].rpartition("/")[2]',
        "def route_parts(path, prefix):\n    return []",
    ],
)
def test_the_hand_parse_check_catches_a_hand_parse(source: str) -> None:
    assert _hand_parsed_paths(source)


def test_the_hand_parse_check_lets_matching_through() -> None:
    source = (
        "endpoint, values = match(request.path, request.method)\n"
        'log.warning("%s %s", request.method, request.path)\n'
        'if not request.path.endswith("/"):\n    pass\n'
        'name = blob_path.rsplit("/", 1)[-1]\n'
    )
    assert _hand_parsed_paths(source) == []


def test_the_api_matches_paths_only_through_the_declared_routes() -> None:
    """Every path the functions serve is a rule of bale.routes.MAP; an entry point that splits
    or counts a path's segments itself would be a second, undeclared route table."""
    found = [
        f"{name}: {hit}"
        for name, path in MODULES.items()
        if name.startswith("bale.api")
        for hit in _hand_parsed_paths(path.read_text())
    ]
    assert not found, found
