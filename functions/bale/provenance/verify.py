"""Verifying the PEP 740 attestations of an upload, offline.

Imported only when an upload carries attestations: ``pypi-attestations`` pulls in sigstore,
pydantic and their dependencies, far more than an upload without them needs (see the upload
function's import time in docs/provenance.md).

The checks, each refusal naming the one that failed:

1. the field is a JSON array of at most one attestation per known predicate type (PyPI's
   publish attestation and SLSA provenance), within :data:`MAX_FIELD_BYTES`;
2. each parses as a PEP 740 attestation (``pypi_attestations.Attestation``);
3. its statement names this file (its filename and sha256): "wrong digest";
4. its signing certificate names the publisher the token was minted for: "wrong repository",
   "wrong workflow", "wrong CI config", "wrong service account";
5. sigstore verifies it all cryptographically against the trust root: the certificate chains
   to the CA, its SCT and the transparency log entry (inclusion proof, checkpoint, promise)
   verify, the publisher policy holds, the DSSE signature verifies: "bad signature";
6. the verified statement (not the unverified one of step 3) names this file.

Steps 3 and 4 read unverified data, only to say clearly what is wrong; what is accepted
rests on steps 5 and 6. No step touches the network: the trust root is sigstore's bundled
production root (never refreshed over TUF), or the file ``BALE_SIGSTORE_TRUSTED_ROOT`` names.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from bale.errors import BadRequest, BaleError
from bale.provenance.identity import NO_IDENTITY, Identity

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

log = logging.getLogger("bale.provenance")

PUBLISH_V1: Final = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1: Final = "https://slsa.dev/provenance/v1"
PREDICATE_TYPES: Final = (PUBLISH_V1, SLSA_PROVENANCE_V1)
#: The ``attestations`` form field's largest size: a real attestation is 5-10 KB, and at most
#: one per predicate type is accepted, so this bounds the stored provenance too.
MAX_FIELD_BYTES: Final = 64 * 1024
#: JSON nested deeper than the parser's recursion limit (about a thousand levels fit in far less
#: than MAX_FIELD_BYTES) is a malformed field, not a server error.
_TOO_DEEP: Final = "{what} is nested too deeply to be a PEP 740 attestation."
#: sigstore's production TUF repository, whose trusted root ships inside the sigstore package.
_PRODUCTION_TUF: Final = "https://tuf-repo-cdn.sigstore.dev"

# Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
OID_ISSUER_V2: Final = "1.3.6.1.4.1.57264.1.8"
OID_SOURCE_REPOSITORY_URI: Final = "1.3.6.1.4.1.57264.1.12"
OID_SOURCE_REPOSITORY_DIGEST: Final = "1.3.6.1.4.1.57264.1.13"
OID_SOURCE_REPOSITORY_REF: Final = "1.3.6.1.4.1.57264.1.14"
OID_BUILD_CONFIG_URI: Final = "1.3.6.1.4.1.57264.1.18"
OID_RUN_INVOCATION_URI: Final = "1.3.6.1.4.1.57264.1.21"


class AttestationRefused(BadRequest):
    """An attestation failed a check: the upload is refused, nothing is stored."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Attestation refused: {message}")


class TrustRootError(BaleError):
    """The trust root could not be loaded: the operator's problem, not the uploader's."""

    status = 503


@dataclasses.dataclass(frozen=True)
class Verified:
    """What an upload's attestations proved: the PEP 740 provenance object to serve, and a
    summary of the build for records and the dashboard."""

    provenance: dict[str, Any]
    summary: dict[str, Any]


@functools.cache
def verifier(trusted_root: str = "") -> Verifier:
    """A sigstore verifier over ``trusted_root`` (a ``trusted_root.json`` path), or over the
    production root bundled in the sigstore package: loaded from the package, not from a TUF
    cache, so nothing is fetched, nothing written, and a stale cache is never trusted."""
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    try:
        if trusted_root:
            root = TrustedRoot.from_file(trusted_root)
        else:
            from urllib.parse import quote

            bundled = resources.files("sigstore._store").joinpath(
                quote(_PRODUCTION_TUF, safe=""), "trusted_root.json"
            )
            with resources.as_file(bundled) as path:
                root = TrustedRoot.from_file(str(path))
        return Verifier(trusted_root=root)
    except Exception as exc:
        log.exception("cannot load the sigstore trust root %r", trusted_root or "(bundled production)")
        raise TrustRootError(
            "Attestations cannot be verified right now: the server's sigstore trust root did not "
            f"load ({type(exc).__name__}). This is not a problem with your upload; please retry later."
        ) from exc


def parse_field(raw: str) -> list[Attestation]:
    """The ``attestations`` form field: a JSON array of PEP 740 attestations, at most one per
    known predicate type. Refusals name what is wrong."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation

    if len(raw.encode()) > MAX_FIELD_BYTES:
        raise AttestationRefused(f"the attestations field is larger than {MAX_FIELD_BYTES} bytes.")
    try:
        items = json.loads(raw)
    except RecursionError:
        raise AttestationRefused(_TOO_DEEP.format(what="the attestations field")) from None
    except ValueError:
        raise AttestationRefused("the attestations field is not JSON (a JSON array is expected).") from None
    if not isinstance(items, list) or not items:
        raise AttestationRefused("the attestations field must be a non-empty JSON array.")
    parsed: list[Attestation] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        try:
            att = Attestation.model_validate(item)
            statement = att.statement
        except RecursionError:
            raise AttestationRefused(_TOO_DEEP.format(what=f"attestation {n}'s statement")) from None
        except (ValidationError, ValueError) as exc:
            first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise AttestationRefused(
                f"attestation {n} is not a valid PEP 740 attestation ({first})."
            ) from None
        kind = statement.get("predicateType") if isinstance(statement, dict) else None
        if kind not in PREDICATE_TYPES:
            raise AttestationRefused(
                f"attestation {n} has predicate type {kind!r}; accepted: {', '.join(PREDICATE_TYPES)}."
            )
        if kind in seen:
            raise AttestationRefused(f"more than one attestation of type {kind}; give at most one per type.")
        seen.add(kind)
        parsed.append(att)
    return parsed


def _subject(statement: Any) -> tuple[str, str]:
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise AttestationRefused("the statement must name exactly one subject (the file).")
    digest = subjects[0].get("digest")
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    return str(subjects[0].get("name") or ""), str(sha256 or "")


def _check_subject(statement: Any, filename: str, sha256: str) -> None:
    name, digest = _subject(statement)
    if digest != sha256:
        raise AttestationRefused(
            f"wrong digest: it attests a file with sha256 {digest or '(none)'}, but {filename} has sha256 {sha256}."
        )
    if name != filename:
        raise AttestationRefused(f"it attests {name!r}, not {filename!r}.")


def _claims(att: Attestation) -> dict[str, str]:
    try:
        return att.certificate_claims
    except Exception:
        raise AttestationRefused("bad signature: its signing certificate cannot be read.") from None


def _san_emails(att: Attestation) -> list[str]:
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(att.verification_material.certificate)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return []
    return [str(e) for e in san.get_values_for_type(x509.RFC822Name)]


def _check_identity(att: Attestation, claims: dict[str, str], identity: Identity) -> None:
    """Step 4, on the certificate's unverified claims: which part of the identity differs."""
    if identity.provider == "google":
        emails = _san_emails(att)
        if (identity.service_account or "").casefold() not in [e.casefold() for e in emails]:
            raise AttestationRefused(
                f"wrong service account: it was signed by {', '.join(emails) or '(no email)'}, but "
                f"this token was minted for {identity.describe()}."
            )
        return
    repo_uri = claims.get(OID_SOURCE_REPOSITORY_URI, "")
    config_uri = claims.get(OID_BUILD_CONFIG_URI, "")
    refs = [claims[k] for k in (OID_SOURCE_REPOSITORY_DIGEST, OID_SOURCE_REPOSITORY_REF) if k in claims]
    if identity.provider in ("github", "gitlab"):
        host = "https://github.com/" if identity.provider == "github" else "https://gitlab.com/"
        want = f"{host}{identity.repository}"
        if repo_uri.casefold() != want.casefold():
            raise AttestationRefused(
                f"wrong repository: it was signed by a workflow of {repo_uri or '(none)'}, but this "
                f"token was minted for {identity.describe()}."
            )
        what = "workflow" if identity.provider == "github" else "CI config"
        sep = "/.github/workflows/" if identity.provider == "github" else "//"
        path = identity.workflow if identity.provider == "github" else identity.ci_config_path
        if not any(config_uri == f"{host}{identity.repository}{sep}{path}@{ref}" for ref in refs):
            got = config_uri.partition("@")[0].rpartition(sep)[2] if sep in config_uri else config_uri
            raise AttestationRefused(
                f"wrong {what}: it was signed by {what} {got or '(none)'}, but this token was minted "
                f"for {identity.describe()}."
            )


def _policy(identity: Identity) -> VerificationPolicy:
    from pypi_attestations import GitHubPublisher, GitLabPublisher, GooglePublisher

    publisher: GitHubPublisher | GitLabPublisher | GooglePublisher
    if identity.provider == "github":
        publisher = GitHubPublisher(repository=identity.repository or "", workflow=identity.workflow or "")
    elif identity.provider == "gitlab":
        publisher = GitLabPublisher(
            repository=identity.repository or "", workflow_filepath=identity.ci_config_path or ""
        )
    else:
        publisher = GooglePublisher(email=identity.service_account or "")
    return publisher._as_policy()  # the library's own policy for each kind of Trusted Publisher


def verify_one(
    att: Attestation, identity: Identity, filename: str, sha256: str, trusted_root: str = ""
) -> str:
    """Verify one attestation of ``filename`` (whose sha256 is given) against ``identity``;
    returns its predicate type. AttestationRefused names the failing check."""
    import sigstore.errors
    from pypi_attestations import ConversionError

    _check_subject(att.statement, filename, sha256)
    _check_identity(att, _claims(att), identity)
    v = verifier(trusted_root)
    try:
        bundle = att.to_bundle()
        payload_type, payload = v.verify_dsse(bundle, _policy(identity))
    except RecursionError:
        raise AttestationRefused(_TOO_DEEP.format(what="the signed statement")) from None
    except (ConversionError, sigstore.errors.Error, ValueError) as exc:
        raise AttestationRefused(f"bad signature: {exc}") from None
    if payload_type != "application/vnd.in-toto+json":
        raise AttestationRefused(
            f"bad signature: the envelope holds {payload_type!r}, not an in-toto statement."
        )
    try:
        statement = json.loads(payload)
    except RecursionError:
        raise AttestationRefused(_TOO_DEEP.format(what="the signed statement")) from None
    except ValueError:
        raise AttestationRefused("bad signature: the signed statement is not JSON.") from None
    _check_subject(statement, filename, sha256)
    kind = statement.get("predicateType")
    if kind not in PREDICATE_TYPES:
        raise AttestationRefused(f"the signed statement has predicate type {kind!r}.")
    return str(kind)


def summarize(att: Attestation, identity: Identity) -> dict[str, Any]:
    """Who built the file, from the verified certificate: for the dashboard and the record."""
    summary: dict[str, Any] = {"provider": identity.provider, **identity.to_dict()}
    if identity.provider not in ("github", "gitlab"):
        # Only a CI provider's certificate names a source repository, checked against the
        # identity in _check_identity; any other's claims are shown nowhere, linked nowhere.
        return summary
    claims = att.certificate_claims
    repo_uri = claims.get(OID_SOURCE_REPOSITORY_URI)
    commit = claims.get(OID_SOURCE_REPOSITORY_DIGEST)
    if repo_uri:
        summary["repository_url"] = repo_uri
    if commit:
        summary["commit"] = commit
        if repo_uri:
            sep = "/-/commit/" if identity.provider == "gitlab" else "/commit/"
            summary["source_url"] = f"{repo_uri}{sep}{commit}"
    if claims.get(OID_SOURCE_REPOSITORY_REF):
        summary["ref"] = claims[OID_SOURCE_REPOSITORY_REF]
    if claims.get(OID_RUN_INVOCATION_URI):
        summary["run_url"] = claims[OID_RUN_INVOCATION_URI]
    return summary


def verify_upload(
    raw: str, identity: Identity | None, filename: str, sha256: str, *, trusted_root: str = ""
) -> Verified:
    """Verify an upload's ``attestations`` field; return the provenance to store and serve.

    ``identity`` None (a person's token, or a team's): refused, as PyPI refuses attestations
    on uploads not made through Trusted Publishing.
    """
    if identity is None:
        raise AttestationRefused(NO_IDENTITY)
    attestations = parse_field(raw)
    for att in attestations:
        verify_one(att, identity, filename, sha256, trusted_root)
    provenance = {
        "version": 1,
        "attestation_bundles": [
            {
                "publisher": identity.publisher_object(),
                "attestations": [a.model_dump(mode="json") for a in attestations],
            }
        ],
    }
    return Verified(provenance=provenance, summary=summarize(attestations[0], identity))
