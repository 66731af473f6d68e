"""Alerts: "@Enrollment Doctor alerts on" / "alerts off" (approvers), and the buttons on an alert card."""

from __future__ import annotations

from typing import Any

from bot.domain.model import PACKAGE_PREFIX
from bot.domain.recognizer import Recognition, extract_error_codes
from bot.handlers.context import Turn
from bot.handlers.diagnosis import start_in_reply
from cards.common import plain
from cards.diagnosis import Clues, build_out_of_date_card
from cards.verbs import Acknowledge, DiagnoseAlert

GONE = "I no longer know this alert. Write \u201cbulk enrollment failed\u201d to diagnose the tenant now."


async def alerts_on(turn: Turn, recognition: Recognition) -> None:
    await turn.context.send_activity(
        await turn.deps.alerts.subscribe(turn.conversation_id, turn.user_id, turn.user_name, True)
    )


async def alerts_off(turn: Turn, recognition: Recognition) -> None:
    await turn.context.send_activity(
        await turn.deps.alerts.subscribe(turn.conversation_id, turn.user_id, turn.user_name, False)
    )


async def take(turn: Turn, payload: Acknowledge) -> dict[str, Any]:
    """ "I'm on it": this person's card now says so, and so does every copy of the alert, for everyone."""
    alerts = turn.deps.alerts
    card = await alerts.take(payload.incident_id, turn.user_id, turn.user_name)
    if card is None:
        return build_out_of_date_card(GONE)
    turn.later(f"alert-refresh-{payload.incident_id}", lambda: alerts.refresh_posts(payload.incident_id))
    return card


async def diagnose(turn: Turn, payload: DiagnoseAlert) -> dict[str, Any]:
    """The diagnosis goes in a reply to the alert, so the alert stays an alert, for this person too."""
    alerts = turn.deps.alerts
    view = await alerts.alert_view(payload.incident_id)
    if view is None:
        return build_out_of_date_card(GONE)
    guids = tuple(
        upn[len(PACKAGE_PREFIX) :].split("@", 1)[0].lower()
        for upn in view.accounts
        if upn.lower().startswith(PACKAGE_PREFIX)
    )[:10]
    codes = tuple(dict.fromkeys(c for reason, _ in view.change.reasons for c in extract_error_codes(reason or "")))[:10]
    await alerts.diagnosing(payload.incident_id, turn.user_id, turn.user_name)
    await start_in_reply(
        turn,
        Clues(codes, guids, None),
        f"{plain(turn.user_name)} asked me to diagnose this alert: the steps follow.",
    )
    turn.later(f"alert-refresh-{payload.incident_id}", lambda: alerts.refresh_posts(payload.incident_id))
    return await alerts.alert_card(payload.incident_id) or build_out_of_date_card(GONE)  # now naming who started
