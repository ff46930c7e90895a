"""The root of shopsync's exceptions and the configuration package's own errors."""

from __future__ import annotations


class ShopsyncError(Exception):
    """Root of every error shopsync raises; carries what an HTTP answer needs."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        """The `{"code", "message", "field"?}` body of an error answer."""
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class ConfigError(ShopsyncError):
    """Root of the configuration package's errors."""


class SettingsError(ConfigError):
    """The environment does not describe a runnable service."""

    code = "settings_error"


class ValidationFailed(ConfigError):
    status = 400
    code = "validation_error"


class NotFound(ConfigError):
    status = 404
    code = "not_found"


class UnsupportedMediaType(ConfigError):
    status = 415
    code = "unsupported_media_type"


class Conflict(ConfigError):
    status = 409
    code = "conflict"


class Unauthorized(ConfigError):
    status = 401
    code = "unauthorized"


class DatabaseUnavailable(ConfigError):
    status = 503
    code = "database_unavailable"
