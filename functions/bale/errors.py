"""Errors the services raise; entry points map them to HTTP in one place."""

from __future__ import annotations


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
