"""A throwaway Sigstore: a test CA (Fulcio), a CT log key and a transparency log (Rekor) key,
and PEP 740 attestations signed under them, entirely offline.

What it makes is what Sigstore's services make, byte for byte in shape, so sigstore-python's
verifier runs every one of its checks on it: a Fulcio-shaped leaf certificate (empty subject,
critical SAN naming the workflow or service account, code-signing EKU, Fulcio's OIDC
extensions, one embedded SCT the CT key signed over the precertificate), a DSSE envelope the
leaf key signed, and a Rekor ``dsse`` 0.0.1 entry with its inclusion promise (SET), a
one-leaf Merkle inclusion proof and a signed checkpoint. ``trusted_root()`` is the
``trusted_root.json`` that names these keys; Bale's verifier is pointed at it only in tests
(``BALE_SIGSTORE_TRUSTED_ROOT``), and the production root rejects what it signs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GOOGLE_ISSUER = "https://accounts.google.com"
ORIGIN = "rekor.bale.test - 1"
_FULCIO = "1.3.6.1.4.1.57264.1."


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _utf8(value: str) -> bytes:
    raw = value.encode()
    return b"\x0c" + _der_len(len(raw)) + raw


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


class TestSigstore:
    """One throwaway trust root and a signer of PEP 740 attestations under it."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bale.test"),
                x509.NameAttribute(NameOID.COMMON_NAME, "bale test fulcio"),
            ]
        )
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.log_index = 0

    # -- the trust root -------------------------------------------------------------------
    def trusted_root(self) -> dict[str, Any]:
        """The ``trusted_root.json`` (protobuf JSON) naming this CA and these log keys."""

        def log(url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": _b64(_key_id(key.public_key()))},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log("https://rekor.bale.test", self.rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "bale.test", "commonName": "bale test fulcio"},
                    "uri": "https://fulcio.bale.test",
                    "certChain": {
                        "certificates": [{"rawBytes": _b64(self.ca.public_bytes(serialization.Encoding.DER))}]
                    },
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                }
            ],
            "ctlogs": [log("https://ctfe.bale.test", self.ct_key)],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Any) -> str:
        with open(path, "w") as fh:
            json.dump(self.trusted_root(), fh)
        return str(path)

    # -- certificates ---------------------------------------------------------------------
    def _leaf(
        self, key: ec.EllipticCurvePrivateKey, san: x509.GeneralName, claims: dict[str, str], issuer: str
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            # Issuer (v1, raw) and Issuer (v2, UTF8String), then the workflow claims.
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + "1"), issuer.encode()),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + "8"), _utf8(issuer)),
                critical=False,
            )
        )
        for suffix, value in claims.items():
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + suffix), _utf8(value)),
                critical=False,
            )
        # The precertificate: the same certificate without its SCT, which the CT log signs.
        precert = builder.sign(self.ca_key, hashes.SHA256())
        ts = int(now.timestamp() * 1000)
        issuer_key_id = _key_id(self.ca_key.public_key())
        tbs = precert.tbs_certificate_bytes
        signed = (
            struct.pack("!BBQH", 0, 0, ts, 1)
            + issuer_key_id
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)
        )
        sig = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + _key_id(self.ct_key.public_key())
            + struct.pack("!QH", ts, 0)
            + b"\x04\x03"
            + struct.pack("!H", len(sig))
            + sig
        )
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        value = b"\x04" + _der_len(len(sct_list)) + sct_list
        return builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), value),
            critical=False,
        ).sign(self.ca_key, hashes.SHA256())

    def github_cert(
        self,
        key: ec.EllipticCurvePrivateKey,
        repository: str,
        workflow: str,
        *,
        ref: str = "refs/heads/main",
        sha: str = "0123456789abcdef0123456789abcdef01234567",
    ) -> x509.Certificate:
        repo = f"https://github.com/{repository}"
        config = f"{repo}/.github/workflows/{workflow}@{ref}"
        claims = {
            "9": config,
            "10": sha,
            "11": "github-hosted",
            "12": repo,
            "13": sha,
            "14": ref,
            "18": config,
            "19": sha,
            "20": "push",
            "21": f"{repo}/actions/runs/1/attempts/1",
        }
        return self._leaf(key, x509.UniformResourceIdentifier(config), claims, GITHUB_ISSUER)

    def google_cert(
        self, key: ec.EllipticCurvePrivateKey, email: str, claims: dict[str, str] | None = None
    ) -> x509.Certificate:
        """``claims``: extra Fulcio extensions (by their last OID arc), which Fulcio never puts
        on a Google account's certificate: for tests that a verifier ignores them."""
        return self._leaf(key, x509.RFC822Name(email), claims or {}, GOOGLE_ISSUER)

    # -- attestations ---------------------------------------------------------------------
    def attest(
        self,
        filename: str,
        sha256: str,
        *,
        repository: str = "octo-org/widgets",
        workflow: str = "publish.yml",
        email: str | None = None,
        predicate_type: str = PUBLISH_V1,
        predicate: dict[str, Any] | None = None,
        sha: str = "0123456789abcdef0123456789abcdef01234567",
        google_claims: dict[str, str] | None = None,
        payload: bytes | None = None,
    ) -> dict[str, Any]:
        """A PEP 740 attestation of ``filename`` (with that sha256), signed by a GitHub workflow
        at commit ``sha`` (or, given ``email``, a Google service account, its certificate
        carrying ``google_claims`` too), logged in this test Rekor. ``payload``: sign these
        bytes as the statement instead (a hostile publisher's own)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            self.google_cert(key, email, google_claims)
            if email
            else self.github_cert(key, repository, workflow, sha=sha)
        )
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": filename, "digest": {"sha256": sha256}}],
            "predicateType": predicate_type,
            "predicate": predicate if predicate is not None else {},
        }
        if payload is None:
            payload = json.dumps(statement, separators=(",", ":")).encode()
        payload_type = "application/vnd.in-toto+json"
        signature = key.sign(_pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
        return {
            "version": 1,
            "verification_material": {
                "certificate": _b64(cert.public_bytes(serialization.Encoding.DER)),
                "transparency_entries": [self._log(cert, payload, payload_type, signature)],
            },
            "envelope": {"statement": _b64(payload), "signature": _b64(signature)},
        }

    def _log(
        self, cert: x509.Certificate, payload: bytes, payload_type: str, signature: bytes
    ) -> dict[str, Any]:
        """The Rekor v1 ``dsse`` entry of the envelope: SET, inclusion proof and checkpoint."""
        envelope = {
            "payload": _b64(payload),
            "payloadType": payload_type,
            "signatures": [{"sig": _b64(signature)}],
        }
        body = rfc8785.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                    },
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                    "signatures": [
                        {
                            "signature": _b64(signature),
                            "verifier": _b64(cert.public_bytes(serialization.Encoding.PEM)),
                        }
                    ],
                },
            }
        )
        log_id = _key_id(self.rekor_key.public_key())
        integrated = int(dt.datetime.now(dt.UTC).timestamp())
        index = self.log_index
        self.log_index += 1
        promise = rfc8785.dumps(
            {"body": _b64(body), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": index}
        )
        set_sig = self.rekor_key.sign(promise, ec.ECDSA(hashes.SHA256()))
        # Each entry is the one leaf of its own tree: the root is the leaf's hash, no path.
        root = hashlib.sha256(b"\x00" + body).digest()
        note = f"{ORIGIN}\n1\n{_b64(root)}\n"
        note_sig = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 {ORIGIN.split(' ')[0]} {_b64(log_id[:4] + note_sig)}\n"
        return {
            "logIndex": str(index),
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated),
            "inclusionPromise": {"signedEntryTimestamp": _b64(set_sig)},
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": _b64(root),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(body),
        }
