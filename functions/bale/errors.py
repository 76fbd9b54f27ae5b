"""Errors the services raise; entry points map them to HTTP in one place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class BaleError(Exception):
    """A failure the caller caused (4xx) or one we report cleanly (5xx)."""

    status = 500

    def __init__(
        self, message: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(BaleError):
    status = 400


class Unauthorized(BaleError):
    status = 401


class Forbidden(BaleError):
    status = 403


class NotFound(BaleError):
    status = 404


class Conflict(BaleError):
    status = 409


class TooLarge(BaleError):
    status = 413


class Unavailable(BaleError):
    status = 503


class PublishingError(BaleError):
    """A refused exchange: 422 and PyPI's error shape, which uv prints as it is."""

    status = 422

    def __init__(self, code: str, description: str | Iterable[str], *, status: int | None = None):
        descriptions = [description] if isinstance(description, str) else list(dict.fromkeys(description))
        super().__init__("Token request failed: " + "; ".join(descriptions), status=status)
        self.errors = [{"code": code, "description": d} for d in descriptions]

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "errors": self.errors}
