"""`make deploy` and cloudbuild.yaml: what the one command from an empty project runs, checked offline.

cloudbuild.yaml is checked against Cloud Build's documented build config schema (the fields of
the Build resource, its substitution rules, and the logging a user-specified service account
needs). `make deploy` is run for real by make and the shell, with terraform and gcloud replaced
by a script that records its arguments, so the order, the targets and the image tags it hands
from one step to the next are what is checked; what Google does with them is not (docs/deploy.md
says what the first deploy verifies).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from test_terraform import TF_DIR, Config

ROOT = Path(__file__).resolve().parents[2]
CLOUDBUILD = ROOT / "cloudbuild.yaml"

# https://cloud.google.com/build/docs/build-config (the Build resource of the Cloud Build API).
BUILD_FIELDS = {
    "steps",
    "timeout",
    "queueTtl",
    "logsBucket",
    "options",
    "substitutions",
    "tags",
    "serviceAccount",
    "secrets",
    "availableSecrets",
    "artifacts",
    "images",
}
STEP_FIELDS = {
    "name",
    "args",
    "env",
    "allowFailure",
    "allowExitCodes",
    "dir",
    "id",
    "waitFor",
    "entrypoint",
    "secretEnv",
    "volumes",
    "timeout",
    "script",
    "automapSubstitutions",
}
OPTION_FIELDS = {
    "env",
    "secretEnv",
    "volumes",
    "sourceProvenanceHash",
    "machineType",
    "diskSizeGb",
    "substitutionOption",
    "dynamicSubstitutions",
    "automapSubstitutions",
    "logStreamingOption",
    "logging",
    "defaultLogsBucketBehavior",
    "pool",
    "pubsubTopic",
    "requestedVerifyOption",
}
LOGGING_MODES = {
    "LOGGING_UNSPECIFIED",
    "LEGACY",
    "GCS_ONLY",
    "STACKDRIVER_ONLY",
    "CLOUD_LOGGING_ONLY",
    "NONE",
}
# Substitutions Cloud Build defines itself; a user-defined one starts with "_" (build-config docs,
# "Substituting variable values").
BUILT_IN = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "LOCATION",
    "BUILD_ID",
    "TRIGGER_NAME",
    "TRIGGER_BUILD_CONFIG_PATH",
    "COMMIT_SHA",
    "REVISION_ID",
    "SHORT_SHA",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "BRANCH_NAME",
    "TAG_NAME",
    "REF_NAME",
    "SERVICE_ACCOUNT_EMAIL",
    "SERVICE_ACCOUNT",
}
USER_SUBSTITUTION = re.compile(r"_[A-Z0-9_]+")
REFERENCE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*))")


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    doc = yaml.safe_load(CLOUDBUILD.read_text())
    assert isinstance(doc, dict)
    return doc


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _references(text: str) -> set[str]:
    return {a or b for a, b in REFERENCE.findall(text.replace("$$", ""))}


def _substitute(text: str, values: dict[str, str]) -> str:
    return REFERENCE.sub(lambda m: values[m.group(1) or m.group(2)], text)


def test_cloudbuild_fields_are_cloud_builds(build: dict[str, Any]) -> None:
    assert set(build) <= BUILD_FIELDS, set(build) - BUILD_FIELDS
    assert build["steps"]
    ids = {step.get("id") for step in build["steps"]}
    for step in build["steps"]:
        assert set(step) <= STEP_FIELDS, set(step) - STEP_FIELDS
        assert isinstance(step["name"], str) and step["name"]
        assert all(isinstance(a, str) for a in step.get("args", [])), step
        for dep in step.get("waitFor", []):
            assert dep == "-" or dep in ids, dep
    assert set(build["options"]) <= OPTION_FIELDS, set(build["options"]) - OPTION_FIELDS
    assert re.fullmatch(r"\d+s", build["timeout"])
    assert all(isinstance(image, str) for image in build["images"])


def test_logs_go_where_a_user_specified_service_account_may_send_them(build: dict[str, Any]) -> None:
    """A build run as a user-specified service account (make deploy's --service-account) is
    refused unless its logs go to Cloud Logging only, nowhere, or a bucket of the user's."""
    logging = build["options"].get("logging", "LOGGING_UNSPECIFIED")
    assert logging in LOGGING_MODES
    assert logging in {"CLOUD_LOGGING_ONLY", "NONE"} or "logsBucket" in build, logging
    assert logging == "CLOUD_LOGGING_ONLY"  # the build's output is worth keeping


def test_substitutions_are_defined_used_and_well_named(build: dict[str, Any]) -> None:
    defined = set(build["substitutions"])
    for name in defined:
        assert USER_SUBSTITUTION.fullmatch(name), f"user substitution {name!r} must match _[A-Z0-9_]+"
    used = {
        ref
        for text in _strings({k: v for k, v in build.items() if k != "substitutions"})
        for ref in _references(text)
    }
    assert used - BUILT_IN == defined, f"used {used - BUILT_IN}, defined {defined}"
    assert build["options"]["substitutionOption"] == "MUST_MATCH"


def test_both_images_are_built_from_their_dockerfiles_and_pushed(build: dict[str, Any]) -> None:
    built = {}
    for step in build["steps"]:
        args = step["args"]
        assert step["name"] == "gcr.io/cloud-builders/docker" and args[0] == "build", step
        dockerfile = next(a.split("=", 1)[1] for a in args if a.startswith("--file="))
        tag = next(a.split("=", 1)[1] for a in args if a.startswith("--tag="))
        assert args[-1] == ".", "the context is the repository root (filtered by .dockerignore)"
        assert (ROOT / dockerfile).is_file(), dockerfile
        built[dockerfile] = tag
    assert set(built) == {"Dockerfile", "Dockerfile.upload"}
    assert built["Dockerfile.upload"].endswith("/upload:${_TAG}")
    assert built["Dockerfile"].endswith("/dashboard:${_TAG}")
    assert sorted(build["images"]) == sorted(built.values())
    # Pushed into the repository Terraform makes, in the deployment's region.
    for tag in built.values():
        assert tag.startswith("${_REGION}-docker.pkg.dev/$PROJECT_ID/bale/"), tag
    tf = Config(TF_DIR)
    assert tf.resources["google_artifact_registry_repository"]["bale"]["repository_id"] == "bale"


# --- make deploy ----------------------------------------------------------------------

RECORDER = """#!/bin/sh
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$(basename "$0")" "$@" >> "$CALLS"
"""


def _run_deploy(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for tool in ("terraform", "gcloud"):
        (stubs / tool).write_text(RECORDER)
        (stubs / tool).chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    calls.write_text("")
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "deploy",
            f"TERRAFORM={stubs}/terraform",
            f"GCLOUD={stubs}/gcloud",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, [json.loads(line) for line in calls.read_text().splitlines()]


def _vars(argv: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("-var=").split("=", 1) for a in argv if a.startswith("-var="))


def test_make_deploy_runs_bootstrap_build_then_apply(tmp_path: Path, build: dict[str, Any]) -> None:
    result, calls = _run_deploy(
        tmp_path,
        "PROJECT=acme-pypi",
        "REGION=europe-west1",
        "DOMAIN=pypi.acme.example",
        "TAG=abc123",
        "AUTO_APPROVE=1",
    )
    assert result.returncode == 0, result.stderr
    assert [c[:2] for c in calls] == [
        ["terraform", "-chdir=terraform"],
        ["terraform", "-chdir=terraform"],
        ["gcloud", "builds"],
        ["terraform", "-chdir=terraform"],
        ["terraform", "-chdir=terraform"],
    ]
    init, bootstrap, submit, apply, output = calls
    assert init[2] == "init" and bootstrap[2] == "apply" and apply[2] == "apply" and output[2] == "output"

    # (a) Only what the build needs, and each target exists in terraform/.
    tf = Config(TF_DIR)
    targets = {a.removeprefix("-target=") for a in bootstrap if a.startswith("-target=")}
    for target in targets:
        kind, name = target.split(".")
        assert name in tf.resources.get(kind, {}), target
    grants = {
        f"{kind}.{name}"
        for kind, named in tf.resources.items()
        if kind.endswith("_iam_member")
        for name, body in named.items()
        if "google_service_account.build." in body["member"]
    }
    cloudbuild_grants = {
        g
        for g in grants
        if "function_sources" not in g and g != "google_artifact_registry_repository_iam_member.build_images"
    }
    assert cloudbuild_grants <= targets, cloudbuild_grants - targets
    assert {"google_project_service.apis", "google_artifact_registry_repository.bale"} <= targets
    assert "-auto-approve" in bootstrap and "-auto-approve" in apply
    expected_vars = {"project_id": "acme-pypi", "region": "europe-west1", "domain": "pypi.acme.example"}
    assert _vars(bootstrap) == expected_vars

    # (b) Cloud Build as bale-build, from the source bucket Terraform made, with the config's substitutions.
    assert submit[1:3] == ["builds", "submit"] and submit[-1] == "."
    flags = dict(a.split("=", 1) for a in submit if a.startswith("--"))
    account = tf.resources["google_service_account"]["build"]["account_id"]
    assert flags["--service-account"] == (
        f"projects/acme-pypi/serviceAccounts/{account}@acme-pypi.iam.gserviceaccount.com"
    )
    assert flags["--config"] == "cloudbuild.yaml" and flags["--project"] == "acme-pypi"
    assert flags["--region"] == "europe-west1"
    source_bucket = tf.resources["google_storage_bucket"]["source"]["name"]
    assert flags["--gcs-source-staging-dir"].startswith(
        "gs://" + source_bucket.replace("${var.project_id}", "acme-pypi") + "/"
    )
    substitutions = dict(s.split("=", 1) for s in flags["--substitutions"].split(","))
    assert set(substitutions) == set(build["substitutions"])
    assert substitutions == {"_REGION": "europe-west1", "_TAG": "abc123"}

    # (c) The full apply runs the images that build pushed.
    values = {**substitutions, "PROJECT_ID": "acme-pypi"}
    pushed = {_substitute(image, values) for image in build["images"]}
    variables = _vars(apply)
    assert {variables["upload_image"], variables["dashboard_image"]} == pushed
    assert variables["upload_image"].endswith("/upload:abc123")
    assert not [a for a in apply if a.startswith("-target")]


def test_make_deploy_tags_by_commit_and_asks_before_applying(tmp_path: Path) -> None:
    result, calls = _run_deploy(tmp_path, "PROJECT=p", "DOMAIN=d.example")
    assert result.returncode == 0, result.stderr
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    tag = dict(s.split("=", 1) for s in calls[2][-2].removeprefix("--substitutions=").split(","))["_TAG"]
    assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?", tag) and commit.stdout.startswith(
        tag.removesuffix("-dirty")
    )
    assert not [c for c in calls if "-auto-approve" in c]
    assert _vars(calls[1])["region"] == "us-central1"


def test_make_deploy_refuses_without_project_or_domain(tmp_path: Path) -> None:
    result, calls = _run_deploy(tmp_path, "DOMAIN=d.example")
    assert result.returncode != 0 and "usage: make deploy PROJECT=" in result.stderr
    assert calls == []


def test_make_dry_run_prints_the_same_sequence() -> None:
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "deploy", "PROJECT=p", "DOMAIN=d.example", "TAG=t1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    order = [
        out.index(s)
        for s in ("terraform -chdir=terraform init", "-target=", "builds submit", "upload_image=")
    ]
    assert order == sorted(order), out
