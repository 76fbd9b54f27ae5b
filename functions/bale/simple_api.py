"""The Simple API (PEP 503/691) and file downloads. (Being written.)"""

from __future__ import annotations

from .errors import NotFound
from .http import plain_errors


def clear_caches() -> None:
    """Forget cached pages (tests clear the emulators between tests)."""


@plain_errors
def handle(request):
    raise NotFound("Not yet served.")
