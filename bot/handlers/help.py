"""Help, greetings, and chatter the bot does not act on."""

from __future__ import annotations

from bot.domain.recognizer import Recognition
from bot.handlers.context import Turn
from bot.proactive import channel_base_id
from bot.recent import RecentCards
from cards.common import plain
from cards.diagnosis import (
    Clues,
    build_did_you_mean_card,
    build_elsewhere_card,
    build_glad_card,
    build_help_card,
    build_not_understood_card,
)
from cards.follow_up import Rules, build_follow_up_card, why_of


async def show_help(turn: Turn, recognition: Recognition) -> None:
    first = turn.user_name.split(" ")[0] if turn.user_name else ""
    greeting = f"Hi {plain(first)}." if recognition.reason == "command" and first else None
    tenants = turn.deps.tenants
    await turn.send_card(build_help_card(greeting, many_tenants=tenants is not None and tenants.many))


SMALL_TALK_REPLIES = (
    (("thank", "thx", "ty", "cheers", "appreciated"), "You're welcome."),
    (("bye", "see you", "cya"), "Bye."),
)


async def small_talk(turn: Turn, recognition: Recognition) -> None:
    said = recognition.text.lower()
    reply = next((r for keys, r in SMALL_TALK_REPLIES if any(k in said for k in keys)), "Glad to help.")
    await turn.context.send_activity(f"{reply} When a provisioning package fails, paste the error or the log here.")


async def not_understood(turn: Turn, recognition: Recognition) -> None:
    if recognition.reason == "success report":
        await turn.send_card(build_glad_card())
        return
    if recognition.reason == "unsure":
        await turn.send_card(build_did_you_mean_card())
        return
    await turn.send_card(build_not_understood_card())


async def elsewhere(turn: Turn, recognition: Recognition) -> None:
    """Something that only looks like ours: say what it looks like and where to look. No Graph read."""
    if recognition.lookalike is None:
        await not_understood(turn, recognition)
        return
    clues = Clues(recognition.error_codes, recognition.package_guids, recognition.device_name)
    await turn.send_card(build_elsewhere_card(recognition.lookalike, clues))


async def follow_up(turn: Turn, recognition: Recognition) -> None:
    """ "why?" right after a card of ours: about that card; with none (or long ago), the not-recognised card."""
    deps = turn.deps
    # The last card of a conversation is noted in the deployment's database, whichever tenant it was about.
    noted = deps.tenants.storage if deps.tenants is not None else deps.storage
    last = await RecentCards(noted, deps.clock).last(channel_base_id(turn.conversation_id))
    if last is None:
        await not_understood(turn, recognition)
        return
    s = deps.settings
    rules = Rules(s.alert_window_minutes, s.alert_min_count, s.alert_factor, s.alert_clear_factor, s.package_token_days)
    await turn.send_card(build_follow_up_card(last.title, last.summary, why_of(last.title, rules), last.actions))
