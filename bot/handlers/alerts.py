"""Alert subscriptions: "@Enrollment Doctor alerts on" / "alerts off", for approvers."""

from __future__ import annotations

from bot.domain.recognizer import Recognition
from bot.handlers.context import Turn


async def alerts_on(turn: Turn, recognition: Recognition) -> None:
    await turn.context.send_activity(
        await turn.deps.alerts.subscribe(turn.conversation_id, turn.user_id, turn.user_name, True)
    )


async def alerts_off(turn: Turn, recognition: Recognition) -> None:
    await turn.context.send_activity(
        await turn.deps.alerts.subscribe(turn.conversation_id, turn.user_id, turn.user_name, False)
    )
