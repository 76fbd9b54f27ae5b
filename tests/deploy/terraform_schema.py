"""Check terraform/ against the hashicorp/google provider's schema, offline.

`terraform validate` needs the provider binary from the Terraform registry, which this
project's machines and CI cannot reach. The provider's schema also ships on PyPI, inside
the prebuilt CDK for Terraform bindings (cdktf-cdktf-provider-google): their jsii assembly
describes every resource's arguments and nested blocks, which are optional and which are
required, each with a link to the Terraform registry's page whose anchor is the argument's
Terraform name. This module downloads that wheel (hash-pinned, about 49 MB, without its
dependencies: nothing of it is imported or installed), extracts the schema once into a
small JSON cache, and checks every `google_*` resource, data source and the provider block
parsed with python-hcl2:

* every argument and block is one the provider knows, written as an argument or as a block
  the way the schema says (`limits = {...}` versus `resources { ... }`);
* every required argument and required block is there (a `dynamic` block counts);
* a block the schema allows once is not repeated.

Run `python tests/deploy/terraform_schema.py [terraform/]`; `make lint` does.
tests/deploy/test_terraform_schema.py checks that it catches what it should.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

# The last release of the prebuilt bindings for hashicorp/google 6.x: provider 6.50.0, the
# last 6.x minor. terraform/versions.tf pins `~> 6.50` to match (test_terraform_schema.py).
BINDINGS = "cdktf-cdktf-provider-google==16.12.1"
BINDINGS_SHA256 = "88d021c89e1cf2abf2c935716d6548d26fe3da4bed30713d4fa36df1ef137436"
PROVIDER_VERSION = "6.50.0"
# Bump when the cache's shape changes, so an old cache is rebuilt rather than misread.
CACHE_FORMAT = 1

ROOT = Path(__file__).resolve().parents[2]

# Terraform's own arguments and blocks of every resource (not in any provider's schema).
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
LIFECYCLE = {
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
    "precondition",
    "postcondition",
}

_ANCHOR = re.compile(r"/docs/(?:resources|data-sources|index)?[a-z0-9_/.-]*#([a-z0-9_]+)\s")
_TYPE_LINK = re.compile(r"/docs/(resources|data-sources)/[a-z0-9_]+ (google_[a-z0-9_]+)\}")


# --- the schema -----------------------------------------------------------------


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bale" / f"terraform-google-{PROVIDER_VERSION}-schema-v{CACHE_FORMAT}.json"


def _download_wheel(into: Path) -> Path:
    """The bindings' wheel from PyPI, checked against its pinned sha256."""
    requirements = into / "requirements.txt"
    requirements.write_text(f"{BINDINGS} --hash=sha256:{BINDINGS_SHA256}\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "-r",
            str(requirements),
            "-d",
            str(into),
        ],
        check=True,
    )
    (wheel,) = into.glob("cdktf_cdktf_provider_google-*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != BINDINGS_SHA256:  # pip checked it already; this guards a stale file
        raise RuntimeError(f"{wheel.name}: sha256 {digest}, expected {BINDINGS_SHA256}")
    return wheel


def _read_assembly(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".jsii.tgz")]
        data = zf.read(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        member = tf.extractfile("package/.jsii")
        assert member is not None
        assembly: dict[str, Any] = json.load(member)
    return assembly


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


class _Extractor:
    """Turns the jsii assembly's config structs into Terraform block schemas."""

    def __init__(self, assembly: dict[str, Any]) -> None:
        self.types: dict[str, Any] = assembly["types"]
        self.memo: dict[str, dict[str, Any]] = {}

    def _struct(self, ref: Any) -> tuple[str, bool] | None:
        """(fqn, at most one) when a property's type is a nested block, else None."""
        if not isinstance(ref, dict):
            return None
        if "fqn" in ref:
            t = self.types.get(ref["fqn"])
            return (ref["fqn"], True) if t is not None and t.get("datatype") else None
        if "union" in ref:
            for member in ref["union"]["types"]:
                found = self._struct(member)
                if found:
                    return found
            return None
        if "collection" in ref and ref["collection"]["kind"] == "array":
            found = self._struct(ref["collection"]["elementtype"])
            return (found[0], False) if found else None
        return None

    def block(self, fqn: str) -> dict[str, Any]:
        if fqn in self.memo:
            return self.memo[fqn]
        schema: dict[str, Any] = {"attributes": {}, "blocks": {}}
        self.memo[fqn] = schema
        t = self.types[fqn]
        properties = list(t.get("properties", []))
        for base in t.get("interfaces", []):  # struct inheritance (rare; not the meta-arguments)
            if base.startswith("@cdktf/provider-google."):
                properties += self.types[base].get("properties", [])
        for prop in properties:
            docs = prop.get("docs", {})
            m = _ANCHOR.search(docs.get("remarks", "") + " " + docs.get("summary", "") + " ")
            name = m.group(1) if m else _snake(prop["name"])
            required = not prop.get("optional", False)
            nested = self._struct(prop["type"])
            if nested:
                schema["blocks"][name] = {
                    "required": required,
                    "max_one": nested[1],
                    "block": nested[0],
                }
                self.block(nested[0])
            else:
                schema["attributes"][name] = {"required": required}
        return schema

    def extract(self) -> dict[str, Any]:
        resources: dict[str, str] = {}
        data: dict[str, str] = {}
        provider = ""
        for fqn, t in self.types.items():
            base = t.get("base")
            if base == "cdktf.TerraformProvider":
                provider = t["initializer"]["parameters"][2]["type"]["fqn"]
                continue
            if base not in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
                continue
            m = _TYPE_LINK.search(t["docs"]["summary"])
            assert m, f"{fqn}: no Terraform type in {t['docs']['summary']!r}"
            config = t["initializer"]["parameters"][2]["type"]["fqn"]
            (resources if m.group(1) == "resources" else data)[m.group(2)] = config
        for config in [provider, *resources.values(), *data.values()]:
            self.block(config)
        # Nested blocks by reference: a struct shared by several blocks is stored once.
        return {
            "provider_version": PROVIDER_VERSION,
            "bindings": BINDINGS,
            "provider": provider,
            "resources": resources,
            "data": data,
            "structs": self.memo,
        }


def extract_schema(wheel: Path) -> dict[str, Any]:
    assembly = _read_assembly(wheel)
    readme = assembly.get("readme", {}).get("markdown", "")
    if f"hashicorp/google provider version {PROVIDER_VERSION}" not in readme:
        raise RuntimeError(f"{wheel.name} does not describe hashicorp/google {PROVIDER_VERSION}")
    return _Extractor(assembly).extract()


def load_schema() -> Schema:
    """The schema from the cache, extracted from a fresh download of the wheel if need be."""
    path = cache_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            schema = extract_schema(_download_wheel(Path(tmp)))
        # Written aside and renamed, so a parallel run never reads half a file.
        fd, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        with os.fdopen(fd, "w") as f:
            json.dump(schema, f, separators=(",", ":"))
        os.replace(partial, path)
    return Schema(json.loads(path.read_text()))


@dataclass
class Schema:
    raw: dict[str, Any]

    @property
    def provider_version(self) -> str:
        return str(self.raw["provider_version"])

    def block(self, fqn: str) -> dict[str, Any]:
        return dict(self.raw["structs"][fqn])

    def resource(self, kind: str) -> dict[str, Any] | None:
        fqn = self.raw["resources"].get(kind)
        return self.block(fqn) if fqn else None

    def data_source(self, kind: str) -> dict[str, Any] | None:
        fqn = self.raw["data"].get(kind)
        return self.block(fqn) if fqn else None

    def provider(self) -> dict[str, Any]:
        return self.block(self.raw["provider"])


# --- checking a configuration ------------------------------------------------------


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _is_block_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def _keys(body: dict[str, Any]) -> list[str]:
    return [k for k in body if not (k.startswith("__") and k.endswith("__"))]


def check_body(
    schema: Schema, block: dict[str, Any], body: dict[str, Any], where: str, top: bool = False
) -> list[str]:
    """Problems of one block body against its schema; `top` allows Terraform's meta-arguments."""
    problems: list[str] = []
    attributes: dict[str, Any] = block["attributes"]
    blocks: dict[str, Any] = block["blocks"]
    present: set[str] = set()
    for key in _keys(body):
        value = body[key]
        if top and key in META_ARGUMENTS:
            continue
        if top and key in META_BLOCKS:
            if key == "lifecycle":
                for lc in value if isinstance(value, list) else [value]:
                    for unknown in sorted(set(_keys(lc)) - LIFECYCLE):
                        problems.append(f"{where}: lifecycle: unknown argument {unknown!r}")
            continue
        if key == "dynamic" and isinstance(value, list):
            for dyn in value:
                for label in _keys(dyn):
                    name = _unquote(label)
                    if name not in blocks:
                        problems.append(f"{where}: dynamic {name!r}: no such block")
                        continue
                    present.add(name)
                    nested = schema.block(blocks[name]["block"])
                    for content in dyn[label].get("content", []):
                        problems += check_body(schema, nested, content, f"{where}.{name}")
            continue
        if key in attributes:
            if _is_block_list(value):
                problems.append(f"{where}: {key!r} is an argument, written as a block")
            present.add(key)
        elif key in blocks:
            if not _is_block_list(value):
                problems.append(f"{where}: {key!r} is a block, written as an argument")
                continue
            present.add(key)
            if blocks[key]["max_one"] and len(value) > 1:
                problems.append(f"{where}: block {key!r} may appear once, appears {len(value)} times")
            nested = schema.block(blocks[key]["block"])
            for item in value:
                problems += check_body(schema, nested, item, f"{where}.{key}")
        else:
            problems.append(f"{where}: unknown argument or block {key!r}")
    for name, spec in sorted({**attributes, **blocks}.items()):
        if spec["required"] and name not in present:
            kind = "block" if name in blocks else "argument"
            problems.append(f"{where}: missing required {kind} {name!r}")
    return problems


@dataclass
class Report:
    problems: list[str]
    checked: int  # google_* resources, data sources and provider blocks checked
    types: set[str]


def check_directory(directory: Path, schema: Schema) -> Report:
    report = Report([], 0, set())
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f)
        rel = path.name
        for section, lookup in (("resource", schema.resource), ("data", schema.data_source)):
            for entry in doc.get(section, []):
                for kind_label, named in entry.items():
                    kind = _unquote(kind_label)
                    if not kind.startswith("google_"):
                        continue  # random_*, archive_file: other providers
                    block = lookup(kind)
                    for name_label, body in named.items():
                        where = f"{rel}: {'data.' if section == 'data' else ''}{kind}.{_unquote(name_label)}"
                        report.checked += 1
                        report.types.add(kind)
                        if block is None:
                            report.problems.append(
                                f"{where}: no such {section} in hashicorp/google {schema.provider_version}"
                            )
                            continue
                        report.problems += check_body(schema, block, body, where, top=True)
        for entry in doc.get("provider", []):
            for label, body in entry.items():
                if _unquote(label) == "google":
                    report.checked += 1
                    body = {k: v for k, v in body.items() if k != "alias"}
                    report.problems += check_body(schema, schema.provider(), body, f"{rel}: provider google")
    return report


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else ROOT / "terraform"
    schema = load_schema()
    report = check_directory(directory, schema)
    for problem in report.problems:
        print(problem)
    print(
        f"{directory}: {report.checked} google blocks of {len(report.types)} types checked against "
        f"hashicorp/google {schema.provider_version}: {len(report.problems)} unknown or missing arguments"
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
