"""Where every record and file lives: Firestore document paths and Cloud Storage blob paths.

Pure functions returning path strings, so the layout is written down in one place and the
services' ``*_ref`` methods are one line each (``db.document(paths.project(...))``).

Firestore::

    teams/{team}                                               the team (and its roster)
    teams/{team}/members/{email}                               one member
    teams/{team}/indexes/{index}                               one index
    teams/{team}/indexes/{index}/catalog/{k:02d}               a chunk of its project list
    teams/{team}/indexes/{index}/projects/{project}            one project
    teams/{team}/indexes/{index}/projects/{project}/files/{f}  one file's record
    .../files/{f}/provenance/pep740                            its PEP 740 provenance, if any
    .../projects/{project}/status/current                      its PEP 792 status, if ever set
    teams/{team}/indexes/{index}/projects/{project}/pages/{k:05d}  a chunk of its page
    teams/{team}/indexes/{index}/advisories/{project}          the team's private advisories for it
    teams/{team}/advisory_ids/{ID}                             a private advisory id, taken for good
    tokens/{id}                                                an API token
    publishers/{id}                                            a trusted publisher
    oidc_jti/{id}                                              a spent OIDC token
    device_codes/{sha256}                                      a ``bale login`` in progress
    device_attempts/{sha256}                                   failed code look-ups, per person and window
    device_user_codes/{sha256}                                 the pending code a user code names
    device_starts/{sha256}                                     codes started, per address and window
    advisories/{project}                                       public (OSV) advisories for a project
    audit/{auto}                                               the audit log

Cloud Storage (content-addressed)::

    {team}/{index}/{project}/{sha256}/{filename}               the file
    {team}/{index}/{project}/{sha256}/{filename}.metadata      its METADATA (PEP 658)
    _upstream/pages/{upstream}/{project}.json                  a cached upstream page (replaced
                                                               on revalidation; lifecycle rule)
    _upstream/files/{upstream}/{sha256}/{filename}             a copied upstream file, verified
    _upstream/files/{upstream}/{sha256}/{filename}.metadata    its METADATA, verified

Bale's own data starts with ``_``, which no team name can (:func:`bale.names.validate_team`):
a team's path never falls under an internal prefix, so the lifecycle rule and the IAM
conditions that Terraform sets on those prefixes (``terraform/storage.tf``, ``iam.tf``) never
reach a package. (The cache used to live under ``upstream/``, which a team named ``upstream``
could own; docs/deploy.md, "Upgrades", says how an existing deployment moves it.)

``{upstream}`` is a hash of the upstream's URL, so indexes sharing an upstream share its cache
(the bytes are verified against the sha256 the upstream's page gave) and a changed URL starts
a new one.
"""

from __future__ import annotations

TEAMS = "teams"
MEMBERS = "members"
INDEXES = "indexes"
PROJECTS = "projects"
FILES = "files"
PAGES = "pages"
PROVENANCE = "provenance"
#: The one document of a file's provenance collection: PEP 740's provenance object.
PEP740 = "pep740"
STATUS = "status"
CATALOG = "catalog"
TOKENS = "tokens"
PUBLISHERS = "publishers"
SPENT_JTIS = "oidc_jti"
READERS = "readers"
AUDIT = "audit"
ADVISORIES = "advisories"
ADVISORY_IDS = "advisory_ids"
DEVICE_CODES = "device_codes"
DEVICE_ATTEMPTS = "device_attempts"
DEVICE_USER_CODES = "device_user_codes"
DEVICE_STARTS = "device_starts"


# -- Firestore ----------------------------------------------------------------
# Each path is spelled out in full (no function calls another), so a parameter may share its
# function's name.
def team(team: str) -> str:
    return f"{TEAMS}/{team}"


def members(team: str) -> str:
    """The collection of a team's members."""
    return f"{TEAMS}/{team}/{MEMBERS}"


def member(team: str, email: str) -> str:
    return f"{TEAMS}/{team}/{MEMBERS}/{email}"


def indexes(team: str) -> str:
    """The collection of a team's indexes."""
    return f"{TEAMS}/{team}/{INDEXES}"


def index(team: str, index: str) -> str:
    return f"{TEAMS}/{team}/{INDEXES}/{index}"


#: The index document's ``catalog`` field: its catalog lists every project. Indexes made
#: before the catalog existed lack it and are backfilled on their first listing. Here, below
#: both tenancy (which makes indexes with an empty catalog) and packages (which keeps it).
CATALOG_VERSION = 1


def catalog_chunk(team: str, index: str, k: int) -> str:
    """Chunk ``k`` of an index's project list."""
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{CATALOG}/{k:02d}"


def projects(team: str, index: str) -> str:
    """The collection of an index's projects."""
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{PROJECTS}"


def project(team: str, index: str, project: str) -> str:
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{PROJECTS}/{project}"


def files(team: str, index: str, project: str) -> str:
    """The collection of a project's file records."""
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{PROJECTS}/{project}/{FILES}"


def file(team: str, index: str, project: str, filename: str) -> str:
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{PROJECTS}/{project}/{FILES}/{filename}"


def provenance(team: str, index: str, project: str, filename: str) -> str:
    """A file's PEP 740 provenance, beside (not in) its record: downloads read the record, and
    need not carry the attestations' 10-20 KB along."""
    return f"{file(team, index, project, filename)}/{PROVENANCE}/{PEP740}"


def project_status(team: str, index: str, project: str) -> str:
    """A project's PEP 792 status on its own (also kept on the project document, which pages
    read): every upload's commit reads this one, and only the status command writes it, so
    uploads to one project do not contend with each other the way reading the project
    document (which each of them writes) would make them."""
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{PROJECTS}/{project}/{STATUS}/current"


def page_chunk(team: str, index: str, project: str, k: int) -> str:
    """Chunk ``k`` of a project's Simple API page."""
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{PROJECTS}/{project}/{PAGES}/{k:05d}"


def tokens() -> str:
    """The collection of API tokens (all teams')."""
    return TOKENS


def token(token_id: str) -> str:
    return f"{TOKENS}/{token_id}"


def publishers() -> str:
    """The collection of trusted publishers (all teams')."""
    return PUBLISHERS


def publisher(publisher_id: str) -> str:
    return f"{PUBLISHERS}/{publisher_id}"


def readers() -> str:
    """The collection of trusted accessors (all teams'): who may exchange OIDC for reads."""
    return READERS


def spent_jtis() -> str:
    """The collection of spent OIDC tokens."""
    return SPENT_JTIS


def spent_jti(doc_id: str) -> str:
    """The create-only record of a spent OIDC token (``doc_id``: a hash of issuer and jti)."""
    return f"{SPENT_JTIS}/{doc_id}"


def device_codes() -> str:
    """The collection of ``bale login`` device codes (by the SHA-256 of the device code)."""
    return DEVICE_CODES


def device_code(code_sha256: str) -> str:
    return f"{DEVICE_CODES}/{code_sha256}"


def device_attempts(key_sha256: str) -> str:
    """Failed user-code look-ups of one person in one window (a brute-force bound)."""
    return f"{DEVICE_ATTEMPTS}/{key_sha256}"


def device_user_code(code_sha256: str) -> str:
    """The claim on a user code (by its SHA-256): which device code it names, until when."""
    return f"{DEVICE_USER_CODES}/{code_sha256}"


def device_starts(key_sha256: str) -> str:
    """Codes started from one address (or IPv6 /64) in one window (a flooding bound)."""
    return f"{DEVICE_STARTS}/{key_sha256}"


def advisories() -> str:
    """Public advisories (OSV), one document per PyPI project: ``{project, advisories: [...],
    max_score, loaded_at}``; shared by every team, as the public data is."""
    return ADVISORIES


def advisory_summary(project: str) -> str:
    return f"{advisories()}/{project}"


def private_advisories(team: str, index: str, project: str) -> str:
    """A team's own advisories for one project of one index: ``{project, advisories: [...],
    withdrawn: [...], updated_at}``; beside the index's projects, not under the shared
    ``advisories/`` (which the public refresh replaces whole)."""
    return f"{TEAMS}/{team}/{INDEXES}/{index}/{ADVISORIES}/{project}"


def advisory_id(team: str, key: str) -> str:
    """The claim on a private advisory id in a team (``key``: the id upper-cased); kept after
    the advisory is withdrawn, so an id names one advisory for good."""
    return f"{TEAMS}/{team}/{ADVISORY_IDS}/{key}"


def advisories_refresh() -> str:
    """The last refresh of the public advisories (bale.advisories.refresh): when, what it loaded,
    the export's ETag and SHA-256. Outside ``advisories``, whose every document is a project's."""
    return "advisories_refresh/osv"


def audit() -> str:
    """The audit log's collection (every team's entries, each naming its team)."""
    return AUDIT


# -- Cloud Storage ------------------------------------------------------------
def blob_path(team: str, index: str, project: str, sha256: str, filename: str) -> str:
    """Where a file's bytes live: content-addressed, so a path is written once."""
    return f"{team}/{index}/{project}/{sha256}/{filename}"


def metadata_path(blob_path: str) -> str:
    """Where a file's METADATA (PEP 658) lives, beside the file."""
    return blob_path + ".metadata"


#: The first character of every internal prefix: one no team name may start with.
INTERNAL = "_"
UPSTREAM = f"{INTERNAL}upstream"
#: Every prefix of Bale's own data in the bucket (each a whole first path segment).
INTERNAL_PREFIXES = (f"{UPSTREAM}/",)


def upstream_page(upstream: str, project: str) -> str:
    """A cached upstream page (``upstream``: the hash of its URL); rewritten on revalidation."""
    return f"{UPSTREAM}/pages/{upstream}/{project}.json"


def upstream_file(upstream: str, sha256: str, filename: str) -> str:
    """A copy of an upstream file, content-addressed like our own: written once, after its
    bytes matched ``sha256``."""
    return f"{UPSTREAM}/files/{upstream}/{sha256}/{filename}"


def upstream_pages_prefix() -> str:
    """Where cached upstream pages live (Terraform's lifecycle rule drops stale ones)."""
    return f"{UPSTREAM}/pages/"


def upstream_files_prefix() -> str:
    """Where verified copies of upstream files live (written once, kept)."""
    return f"{UPSTREAM}/files/"
