"""The bot's own error types: what went wrong, said so that a person can act on it."""

from __future__ import annotations


class BotError(Exception):
    """An expected failure with a message safe to show to the user."""


class ConfigError(BotError):
    pass


class DeliveryError(BotError):
    """The Bot Connector did not take a message after the retries Teams' guidance asks for."""


class StorageUnavailableError(BotError):
    """The database could not be reached or written; nothing was changed."""


class StorageOpenError(StorageUnavailableError):
    """The database named by DATABASE_URL cannot be opened (or does not exist, where it must): said in one line."""


class GraphError(BotError):
    def __init__(
        self,
        message: str,
        *,
        operation: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        self.request_id = request_id


class GraphPermissionError(GraphError):
    """Graph answered 403: the app lacks an application permission."""

    def __init__(self, permission: str, **kwargs):
        super().__init__(f"The Enrollment Doctor app lacks the Microsoft Graph permission {permission}.", **kwargs)
        self.permission = permission


class GraphThrottledError(GraphError):
    def __init__(self, message: str, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GraphUnavailableError(GraphError):
    pass


class GraphAuthError(GraphError):
    """No token could be obtained: wrong secret, tenant or app id, or the identity endpoint is down."""


class GraphNotFoundError(GraphError):
    pass
