"""The one exception hierarchy: every user-facing failure has a stable code and exit code."""

from __future__ import annotations


class ExitCode:
    """Documented process exit codes; cron and CI scripts depend on these numbers."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    INSUFFICIENT_CREDITS = 4
    PARTIAL = 5
    DATABASE = 6
    INTEGRITY = 7
    INTERRUPTED = 130


class HunterError(Exception):
    """Base class: a message written for the user, a stable code and an exit code."""

    code = "failure"
    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict:
        payload: dict = {"code": self.code, "message": self.message}
        if self.details:
            payload["details"] = self.details
        return payload


class UsageError(HunterError):
    code = "usage_error"
    exit_code = ExitCode.USAGE


class ValidationError(UsageError):
    code = "validation_error"


class ConfigError(UsageError):
    code = "config_error"


class NotFoundError(HunterError):
    code = "not_found"
    exit_code = ExitCode.NOT_FOUND


class InsufficientCreditsError(HunterError):
    code = "insufficient_credits"
    exit_code = ExitCode.INSUFFICIENT_CREDITS


class DatabaseError(HunterError):
    code = "database_error"
    exit_code = ExitCode.DATABASE


class DatabaseUnavailableError(DatabaseError):
    code = "database_unavailable"


class SchemaBehindError(DatabaseError):
    code = "schema_behind"


class SchemaAheadError(DatabaseError):
    """The database was migrated by a newer hunter: this one must not read or write it."""

    code = "schema_ahead"


class IntegrityError(HunterError):
    """The audit chain or the ledger does not add up."""

    code = "integrity_error"
    exit_code = ExitCode.INTEGRITY


class Interrupted(HunterError):
    """Ctrl-C, or SIGTERM (cron's `timeout`, `kill`): the work stopped part-way."""

    code = "interrupted"
    exit_code = ExitCode.INTERRUPTED
