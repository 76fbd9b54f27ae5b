"""The route map: which function answers which path prefix.

Defined once. ``bale dev`` dispatches by it on one port, and the Terraform test checks that the
load balancer's URL map sends the same prefixes to the same entry points of ``functions/main.py``;
every other path goes to the dashboard.
"""

from __future__ import annotations

from typing import Final, Literal

Target = Literal["upload", "simple", "oidc"]

#: Where uploads go: ``{UPLOAD}/{team}/{index}/`` (PyPI's legacy upload API).
UPLOAD: Final = "/v1/upload"

#: (path prefix, entry point), most specific first. A prefix matches itself and what is below it.
ROUTES: Final[tuple[tuple[str, Target], ...]] = (
    (UPLOAD, "upload"),
    ("/simple", "simple"),
    ("/files", "simple"),
    ("/integrity", "simple"),
    ("/_/oidc", "oidc"),
)


def target_for(path: str) -> Target | None:
    """The entry point that serves ``path``; None for the dashboard."""
    for prefix, target in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return target
    return None


#: Entry points of functions/main.py that no route reaches: Cloud Scheduler calls each on its
#: function's own URL (terraform/advisories.tf).
Scheduled = Literal["advisories_refresh"]
