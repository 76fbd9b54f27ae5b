"""Trusted Publishing endpoints. (Being written.)"""

from __future__ import annotations

from .errors import NotFound
from .http import plain_errors


@plain_errors
def handle(request):
    raise NotFound("Trusted publishing is not enabled yet.")
