"""The load balancer's URL map, read from terraform/ and matched the way the load balancer does.

The production-shaped local stack (``bale_tools.prodstack``) routes by what Terraform declares,
not by a copy of it: each path rule of the HTTPS URL map is followed from its backend service
through the serverless network endpoint group to the Cloud Run service or Cloud Function it
serves, and from there to the entry point of ``functions/main.py`` that runs (or to the
dashboard, which runs none). A route added to ``bale.routes`` but not to Terraform, or sent to
the wrong backend there, is then missing or wrong locally too.

Parsed with python-hcl2 (the ``dev`` extra), imported only here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"

#: The serving unit of every path no function claims (the URL map's default service).
DASHBOARD = "dashboard"

# `google_x.name`, `google_x.name["key"]` or `google_x.name[each.key]`, then an attribute.
_REF = re.compile(r"\b(google_[a-z0-9_]+)\.([a-z0-9_-]+)(?:\[(\"[^\"]*\"|each\.key)\])?\.[a-z_]+")


class UrlMapError(ValueError):
    """terraform/ does not say where a path goes (a reference to nothing, an unknown shape)."""


@dataclasses.dataclass(frozen=True)
class UrlMap:
    """Path rules in declaration order: (pattern, target); ``target`` is an entry point of
    functions/main.py or :data:`DASHBOARD`."""

    rules: tuple[tuple[str, str], ...]
    default: str

    def target_for(self, path: str) -> str:
        """What serves ``path``: the longest matching pattern wins, as in a URL map's path
        matcher, where ``/x`` matches only itself and ``/x/*`` everything below ``/x/``."""
        best: tuple[int, str] | None = None
        for pattern, target in self.rules:
            matches = path.startswith(pattern[:-1]) if pattern.endswith("/*") else path == pattern
            if matches and (best is None or len(pattern) > best[0]):
                best = (len(pattern), target)
        return best[1] if best else self.default

    def targets(self) -> set[str]:
        return {target for _, target in self.rules} | {self.default}

    def replace(self, pattern: str, target: str) -> UrlMap:
        """The same map with one rule sent elsewhere (tests show a wrong route is caught)."""
        rules = tuple((p, target if p == pattern else t) for p, t in self.rules)
        if rules == self.rules:
            raise KeyError(pattern)
        return UrlMap(rules, self.default)


def _clean(value: Any) -> Any:
    """python-hcl2's output without its version-dependent quoting and ``__markers__``."""
    if isinstance(value, dict):
        return {
            _clean(k): _clean(v) for k, v in value.items() if not (k.startswith("__") and k.endswith("__"))
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class _Config:
    def __init__(self, directory: Path) -> None:
        import hcl2

        self.resources: dict[str, dict[str, dict]] = {}
        self.locals: dict[str, Any] = {}
        paths = sorted(directory.glob("*.tf"))
        if not paths:
            raise UrlMapError(f"no *.tf files in {directory}")
        for path in paths:
            with path.open() as f:
                doc = _clean(hcl2.load(f))
            for block in doc.get("resource", []):
                for kind, named in block.items():
                    self.resources.setdefault(kind, {}).update(named)
            for block in doc.get("locals", []):
                self.locals.update(block)

    def body(self, kind: str, name: str) -> dict:
        try:
            return self.resources[kind][name]
        except KeyError:
            raise UrlMapError(f"{kind}.{name} is referenced but not defined") from None

    def ref(self, expr: str, key: str | None) -> tuple[str, str, str | None]:
        """The one resource instance ``expr`` names, with ``each.key`` bound to ``key``."""
        found = _REF.findall(expr)
        if len(found) != 1:
            raise UrlMapError(f"expected one resource reference in {expr!r}")
        kind, name, k = found[0]
        k = key if k == "each.key" else (k.strip('"') or None)
        return kind, name, k

    def each_value(self, body: dict, key: str | None) -> dict:
        expr = body.get("for_each")
        if expr is None:
            return {}
        m = re.fullmatch(r"\$\{local\.(\w+)\}", str(expr))
        if not m or key not in self.locals.get(m.group(1), {}):
            raise UrlMapError(f"cannot expand for_each {expr!r} for key {key!r}")
        return dict(self.locals[m.group(1)][key])

    def value(self, expr: Any, body: dict, key: str | None) -> Any:
        """``each.value.X``, ``each.key`` and ``local.X.Y`` substituted the way Terraform would."""
        if not isinstance(expr, str):
            return expr
        m = re.fullmatch(r"\$\{each\.value\.(\w+)\}", expr)
        if m:
            return self.each_value(body, key)[m.group(1)]
        if expr == "${each.key}":
            return key
        m = re.fullmatch(r"\$\{local\.(\w+)\.(\w+)\}", expr)
        if m:
            return self.locals[m.group(1)][m.group(2)]
        return expr


def _block(body: dict, name: str) -> dict:
    blocks = body.get(name)
    if not (isinstance(blocks, list) and len(blocks) == 1):
        raise UrlMapError(f"expected one {name!r} block")
    return blocks[0]


def _target(tf: _Config, service_expr: str) -> str:
    """Follow backend service -> serverless NEG -> Cloud Run service or Cloud Function -> what runs."""
    kind, name, key = tf.ref(service_expr, None)
    if kind != "google_compute_backend_service":
        raise UrlMapError(f"{service_expr!r}: not a backend service")
    backend = tf.body(kind, name)
    group = tf.value(_block(backend, "backend")["group"], backend, key)
    kind, name, key = tf.ref(group, key)
    neg = tf.body(kind, name)
    if (
        kind != "google_compute_region_network_endpoint_group"
        or neg.get("network_endpoint_type") != "SERVERLESS"
    ):
        raise UrlMapError(f"{group!r}: not a serverless network endpoint group")
    served = tf.value(_block(neg, "cloud_run")["service"], neg, key)
    kind, name, key = tf.ref(served, key)
    body = tf.body(kind, name)
    if kind == "google_cloudfunctions2_function":
        return str(tf.value(_block(body, "build_config")["entry_point"], body, key))
    if kind == "google_cloud_run_v2_service":
        # A container that runs a function says which in FUNCTION_TARGET (functions-framework's
        # variable), set from one of the locals its env is built from; the dashboard runs none.
        for local in re.findall(r"local\.(\w+)", repr(body)):
            target = tf.locals.get(local, {})
            if isinstance(target, dict) and "FUNCTION_TARGET" in target:
                return str(tf.value(target["FUNCTION_TARGET"], body, key))
        return name
    raise UrlMapError(f"{served!r}: a backend of kind {kind} is not served locally")


def read_url_map(terraform_dir: Path = TERRAFORM_DIR) -> UrlMap:
    """The HTTPS URL map of ``terraform_dir``: the one map with path matchers."""
    tf = _Config(terraform_dir)
    maps = [m for m in tf.resources.get("google_compute_url_map", {}).values() if m.get("path_matcher")]
    if len(maps) != 1:
        raise UrlMapError(f"expected one URL map with path matchers in {terraform_dir}, found {len(maps)}")
    (url_map,) = maps
    (matcher,) = url_map["path_matcher"]
    rules = tuple(
        (path, _target(tf, rule["service"]))
        for rule in matcher.get("path_rule", [])
        for path in rule["paths"]
    )
    default = _target(tf, matcher.get("default_service") or url_map["default_service"])
    return UrlMap(rules, default)
