"""terraform/ against the hashicorp/google provider's schema (tests/deploy/terraform_schema.py).

The first run downloads the provider's prebuilt bindings from PyPI (49 MB, hash-pinned) and
caches the schema extracted from them; later runs read the cache.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import terraform_schema
from terraform_schema import Schema, check_directory, load_schema

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return load_schema()


def _check(tmp_path: Path, schema: Schema, text: str) -> list[str]:
    (tmp_path / "main.tf").write_text(text)
    return check_directory(tmp_path, schema).problems


def test_the_configuration_matches_the_provider_schema(schema: Schema) -> None:
    report = check_directory(TF_DIR, schema)
    assert report.problems == []
    # Every google_* block was looked at, not a handful.
    assert report.checked >= 60 and len(report.types) >= 30, (report.checked, report.types)


def test_the_schema_is_the_pinned_provider_release(schema: Schema) -> None:
    """versions.tf allows exactly the minor release the arguments were checked against, up to 7.0."""
    with (TF_DIR / "versions.tf").open() as f:
        doc = hcl2.load(f)
    (block,) = doc["terraform"]
    (providers,) = block["required_providers"]
    version = providers["google"]["version"].strip('"')
    m = re.fullmatch(r"~>\s*(\d+)\.(\d+)", version)
    assert m, f"google provider pinned as {version!r}: pin ~> MAJOR.MINOR of the checked schema"
    major, minor, _patch = schema.provider_version.split(".")
    assert (m.group(1), m.group(2)) == (major, minor), (version, schema.provider_version)


VALID = """
resource "google_cloud_run_v2_service" "s" {
  name     = "s"
  location = "us-central1"
  template {
    containers {
      image = "x"
    }
  }
}
"""


def test_a_valid_resource_passes(tmp_path: Path, schema: Schema) -> None:
    assert _check(tmp_path, schema, VALID) == []


def test_an_unknown_argument_is_caught(tmp_path: Path, schema: Schema) -> None:
    problems = _check(tmp_path, schema, VALID.replace('name     = "s"', 'name = "s"\n  ingres = "ALL"'))
    assert problems == ["main.tf: google_cloud_run_v2_service.s: unknown argument or block 'ingres'"]


def test_an_unknown_argument_in_a_nested_block_is_caught(tmp_path: Path, schema: Schema) -> None:
    problems = _check(tmp_path, schema, VALID.replace('image = "x"', 'image = "x"\n      img = "y"'))
    assert problems == [
        "main.tf: google_cloud_run_v2_service.s.template.containers: unknown argument or block 'img'"
    ]


def test_a_missing_required_argument_is_caught(tmp_path: Path, schema: Schema) -> None:
    problems = _check(tmp_path, schema, VALID.replace('location = "us-central1"', ""))
    assert problems == ["main.tf: google_cloud_run_v2_service.s: missing required argument 'location'"]


def test_a_missing_required_block_is_caught(tmp_path: Path, schema: Schema) -> None:
    text = 'resource "google_cloud_run_v2_service" "s" {\n  name = "s"\n  location = "x"\n}\n'
    assert _check(tmp_path, schema, text) == [
        "main.tf: google_cloud_run_v2_service.s: missing required block 'template'"
    ]


def test_a_dynamic_block_counts_and_its_content_is_checked(tmp_path: Path, schema: Schema) -> None:
    text = VALID.replace(
        'image = "x"',
        'image = "x"\n      dynamic "env" {\n        for_each = {}\n'
        "        content {\n          nmae = env.key\n        }\n      }",
    )
    assert _check(tmp_path, schema, text) == [
        "main.tf: google_cloud_run_v2_service.s.template.containers.env: unknown argument or block 'nmae'",
        "main.tf: google_cloud_run_v2_service.s.template.containers.env: missing required argument 'name'",
    ]
    required_by_dynamic = (
        'resource "google_cloud_run_v2_service" "s" {\n  name = "s"\n  location = "x"\n'
        '  dynamic "template" {\n    for_each = [1]\n    content {\n'
        '      containers {\n        image = "x"\n      }\n    }\n  }\n}\n'
    )
    assert _check(tmp_path, schema, required_by_dynamic) == []


def test_a_block_written_as_an_argument_is_caught(tmp_path: Path, schema: Schema) -> None:
    text = VALID.replace('image = "x"', 'image = "x"\n      resources = { limits = {} }')
    assert _check(tmp_path, schema, text) == [
        "main.tf: google_cloud_run_v2_service.s.template.containers: 'resources' is a block, written as an argument"
    ]


def test_an_argument_written_as_a_block_is_caught(tmp_path: Path, schema: Schema) -> None:
    text = VALID.replace(
        'image = "x"', 'image = "x"\n      resources {\n        limits {\n        }\n      }'
    )
    assert _check(tmp_path, schema, text) == [
        "main.tf: google_cloud_run_v2_service.s.template.containers.resources: 'limits' is an argument, written as a block"
    ]


def test_a_single_block_repeated_is_caught(tmp_path: Path, schema: Schema) -> None:
    text = VALID.replace("  template {", "  template {\n    scaling {\n    }\n    scaling {\n    }")
    assert _check(tmp_path, schema, text) == [
        "main.tf: google_cloud_run_v2_service.s.template: block 'scaling' may appear once, appears 2 times"
    ]


def test_unknown_resource_types_and_provider_arguments_are_caught(tmp_path: Path, schema: Schema) -> None:
    text = (
        'provider "google" {\n  projekt = "p"\n}\n'
        'resource "google_cloud_run_service_v3" "x" {\n}\n'
        'resource "random_id" "r" {\n  byte_length = 2\n}\n'
        'resource "google_compute_global_address" "a" {\n  name = "a"\n'
        "  lifecycle {\n    create_before_destory = true\n  }\n}\n"
    )
    assert sorted(_check(tmp_path, schema, text)) == [
        "main.tf: google_cloud_run_service_v3.x: no such resource in hashicorp/google 6.50.0",
        "main.tf: google_compute_global_address.a: lifecycle: unknown argument 'create_before_destory'",
        "main.tf: provider google: unknown argument or block 'projekt'",
    ]


def test_the_command_line_reports_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "main.tf").write_text(VALID.replace('location = "us-central1"', ""))
    assert terraform_schema.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing required argument 'location'" in out and "1 unknown or missing arguments" in out
    assert terraform_schema.main([str(TF_DIR)]) == 0
