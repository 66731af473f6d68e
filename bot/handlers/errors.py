"""What a person is shown when something failed: one card per kind of failure, each saying what to do next."""

from __future__ import annotations

from typing import Any

from bot.errors import (
    BotError,
    GraphAuthError,
    GraphError,
    GraphPermissionError,
    GraphThrottledError,
    GraphUnavailableError,
    StorageUnavailableError,
)
from cards.diagnosis import build_error_card


def error_card_for(exc: Exception, correlation_id: str) -> dict[str, Any]:
    if isinstance(exc, GraphPermissionError):
        return build_error_card(
            "The app lacks a Microsoft Graph permission",
            f"{exc.message} Microsoft Graph refused to let me {exc.operation}.",
            "A Global Administrator or Privileged Role Administrator grants it: Entra admin center > "
            "App registrations > Enrollment Doctor > API permissions > Add a permission > Microsoft Graph > "
            f"Application permissions > {exc.permission}, then 'Grant admin consent for your tenant'. "
            "Then try again.",
            correlation_id,
        )
    if isinstance(exc, GraphThrottledError):
        wait = f" It asked to wait {exc.retry_after:g} seconds." if exc.retry_after else ""
        return build_error_card(
            "Microsoft Graph is busy", exc.message + wait, "Wait a minute, then try again.", correlation_id
        )
    if isinstance(exc, GraphUnavailableError):
        return build_error_card(
            "Microsoft Graph is unavailable",
            exc.message,
            "Nothing was changed. Try again in a few minutes; if it persists, check the Microsoft 365 service health.",
            correlation_id,
        )
    if isinstance(exc, GraphAuthError):
        return build_error_card(
            "I could not sign in to Microsoft Graph",
            exc.message,
            "An administrator checks the bot's Graph credential (GRAPH_CLIENT_SECRET or certificate, tenant and "
            "client id) and that the secret has not expired.",
            correlation_id,
        )
    if isinstance(exc, GraphError):
        return build_error_card("Microsoft Graph refused a request", exc.message, "Try again.", correlation_id)
    if isinstance(exc, StorageUnavailableError):
        return build_error_card(
            "I can't reach my database right now",
            "Nothing was changed.",
            "Try again in a minute. If it persists, whoever runs the bot checks DATABASE_URL and the database "
            "server; /readyz says whether storage is reachable.",
            correlation_id,
        )
    if isinstance(exc, BotError):
        return build_error_card("I could not finish that", str(exc), "Try again.", correlation_id)
    return build_error_card(
        "Something went wrong on my side",
        "I hit an unexpected error and stopped. Nothing was changed in your tenant.",
        "Try again. If it keeps happening, give this correlation id to whoever runs the bot.",
        correlation_id,
    )
