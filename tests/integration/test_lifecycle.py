"""One request through its whole life over real HTTP, on the injected clock: at every step the latest version of
every copy of its card (the requester's chat, a second asker's chat, the admins' channel card and the extension
post in its thread) says the same state and offers only what that state allows, to each kind of viewer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import DEPS
from sim.tenant import Fault
from tests.support.activities import ALEX, CHANNEL, MEGAN, NESTOR, PERSONAL, REQUESTER, card_action, message
from tests.support.cards import actions_in, elements, text_of
from tests.support.requests import latest_request_card, request_copies

APPROVERS_GROUP = "d1e2f3a4-0000-4000-8000-00000000a001"
GROUP = "19:group@thread.v2"  # where Alex, who is no approver, asks for the same change

# What each copy must say and offer in each step, written out here (not taken from the code under test):
# (the requester's title, the second asker's title, the channel card's title,
#  the requester's verbs, the second asker's verbs, the channel card's verbs for everyone,
#  the verbs an approver gets on refresh)
ASKED = (
    "Your request: Waiting for approval",
    "Request by Adele Vance: Waiting for approval",
    "Approve a tenant change",
    {"approval.cancel"},
    set(),
    {"approval.view"},
    {"approval.approve", "approval.reject"},
)
APPLYING = (
    "Your request: Applying",
    "Request by Adele Vance: Applying",
    "Approved: applying a tenant change",
    set(),
    set(),
    set(),
    set(),
)
OPEN = {"approval.ask_extend", "approval.check"}
APPROVER_WINDOW = {"approval.extend", "approval.end"}
APPLIED = (
    "Your request: Applied",
    "Request by Adele Vance: Applied",
    "Tenant change applied",
    OPEN,
    {"approval.check"},
    {"approval.view"},
    APPROVER_WINDOW,
)
REMINDED = (
    "Your request: Applied, ending soon",
    "Request by Adele Vance: Applied, ending soon",
    "Tenant change applied, its window ends soon",
    OPEN,
    {"approval.check"},
    {"approval.view"},
    APPROVER_WINDOW,
)
EXTENSION_ASKED = (
    "Your request: Applied, extension asked",
    "Request by Adele Vance: Applied, extension asked",
    "Tenant change applied, extension asked",
    {"approval.check"},
    {"approval.check"},
    {"approval.view"},
    APPROVER_WINDOW,
)
EXTENDED = (
    "Your request: Applied, extended",
    "Request by Adele Vance: Applied, extended",
    "Tenant change applied and extended",
    OPEN,
    {"approval.check"},
    {"approval.view"},
    APPROVER_WINDOW,
)
REMOVING = (
    "Your request: Window over, removing",
    "Request by Adele Vance: Window over, removing",
    "Tenant change ending: removing it",
    {"approval.check"},
    {"approval.check"},
    set(),
    set(),
)
ENDED = (
    "Your request: Ended",
    "Request by Adele Vance: Ended",
    "Tenant change ended",
    {"approval.check"},
    {"approval.check"},
    set(),
    set(),
)


def title(card: dict[str, Any]) -> str:
    return next(e["text"] for e in elements(card) if e.get("style") == "heading")


def verbs(card: dict[str, Any]) -> set[str]:
    """The buttons drawn (the refresh definition is not a button)."""
    return {a["verb"] for a in actions_in({k: v for k, v in card.items() if k != "refresh"})}


@pytest.fixture
async def life_bot(bot_factory, connector):
    connector.members = [
        {"id": f"29:{u}", "aadObjectId": u, "name": n}
        for u, n in ((MEGAN, "Megan Bowen"), (NESTOR, "Nestor Wilke"), (ALEX, "Alex Wilber"))
    ]
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP, JOIN_WINDOWS="1d,7d")
    await bot.post(
        message(connector.url, "use this channel for approvals", conversation_type="channel", user=MEGAN, mention=True)
    )
    return bot


async def ask(bot, connector, user: str, where: str, reply_to: str) -> dict[str, Any]:
    await bot.post(
        message(
            connector.url,
            "A setup failure has occurred during bulk enrollment.",
            user=user,
            conversation_type=where,
            mention=where != "personal",
        )
    )
    diagnosis = connector.cards()[-1]
    session_id = next(a["data"]["sessionId"] for a in diagnosis["actions"] if "sessionId" in a["data"])
    data = {"sessionId": session_id, "window": "1d"}
    status, body = await bot.post(
        card_action(connector.url, "approval.request", data, conversation_type=where, user=user, reply_to=reply_to)
    )
    assert status == 200
    await bot.idle()
    return body["value"]


async def press(bot, connector, verb: str, request_id: str, user: str, where: str) -> dict[str, Any]:
    status, body = await bot.post(
        card_action(connector.url, verb, {"requestId": request_id}, conversation_type=where, user=user)
    )
    assert status == 200
    return body["value"]


async def check_every_copy(bot, connector, request_id: str, expected: tuple, *, extension: str | None = None) -> None:
    """The latest version of every copy, for each role; and what the refresh gives an approver and another member."""
    await bot.idle()
    requester_title, follower_title, channel_title, requester, follower, channel, approver = expected
    ((_, mine),) = request_copies(connector, PERSONAL, request_id)
    ((_, theirs),) = request_copies(connector, GROUP, request_id)
    in_channel = request_copies(connector, CHANNEL, request_id)
    assert (title(mine), verbs(mine)) == (requester_title, requester)
    assert (title(theirs), verbs(theirs)) == (follower_title, follower)
    channel_card = in_channel[0][1]
    assert (title(channel_card), verbs(channel_card)) == (channel_title, channel)
    assert ("refresh" in channel_card) == bool(approver)  # approvers get a refresh only while they have a move
    if extension is not None:
        (post,) = [c for _, c in in_channel[1:]]
        assert title(post) == extension
    assert len(in_channel) == (1 if extension is None else 2)
    refreshed = await press(bot, connector, "approval.view", request_id, MEGAN, "channel")
    assert title(refreshed) == channel_title and verbs(refreshed) == approver | (channel - {"approval.view"})
    other = await press(bot, connector, "approval.view", request_id, ALEX, "channel")
    assert title(other) == channel_title and not verbs(other) & {"approval.approve", "approval.extend"}


async def test_one_request_through_every_state_every_copy_agrees(life_bot, connector, sim, clock):
    bot = life_bot
    await ask(bot, connector, REQUESTER, "personal", "adele-diagnosis")
    request_id, _, _ = latest_request_card(connector, PERSONAL)
    # A second person asks for exactly this change: told who asked and when; their diagnosis card stays.
    answer = await ask(bot, connector, ALEX, "groupChat", "alex-diagnosis")
    assert "step 2 of 3" in text_of(answer)
    assert "Adele Vance already asked for exactly this change at" in text_of(answer)
    assert latest_request_card(connector, GROUP)[0] == request_id
    await check_every_copy(bot, connector, request_id, ASKED)
    # Not theirs to cancel: no Cancel is drawn, and a forged one changes nothing and says whose it is.
    forged = await press(bot, connector, "approval.cancel", request_id, ALEX, "groupChat")
    assert "This is Adele Vance's request: only Adele Vance can cancel it" in text_of(forged)
    assert title(forged) == ASKED[1] and "approval.cancel" not in text_of(forged)
    await check_every_copy(bot, connector, request_id, ASKED)

    held = Fault(route="policy.put", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(held)
    approved = await press(bot, connector, "approval.approve", request_id, NESTOR, "channel")
    assert title(approved) == "Approved: applying a tenant change"
    await asyncio.wait_for(held.arrived.wait(), 10)
    await asyncio.sleep(0.1)  # the copies are re-rendered before the write
    ((_, mine),) = request_copies(connector, PERSONAL, request_id)
    assert title(mine) == "Your request: Applying"
    ((_, theirs),) = request_copies(connector, GROUP, request_id)
    assert title(theirs) == APPLYING[1]
    held.gate.set()
    await check_every_copy(bot, connector, request_id, APPLIED)

    # "Check my tenant again" on the request card: the check is a new card below; the request card stays.
    sent_before = len(connector.sent_cards(PERSONAL))
    checked = await press(bot, connector, "approval.check", request_id, REQUESTER, "personal")
    await bot.idle()
    assert title(checked) == "Your request: Applied"
    assert len(connector.sent_cards(PERSONAL)) == sent_before + 1
    assert "step 3 of 3" in text_of(connector.sent_cards(PERSONAL)[-1][1])
    await check_every_copy(bot, connector, request_id, APPLIED)

    approvals = bot.app[DEPS].approvals
    clock.advance(hours=12)  # half the 1-day window before its end
    await approvals.windows_due()
    await check_every_copy(bot, connector, request_id, REMINDED)
    await press(bot, connector, "approval.ask_extend", request_id, REQUESTER, "personal")
    await check_every_copy(bot, connector, request_id, EXTENSION_ASKED, extension="Adele Vance asks to extend by 1 day")
    await press(bot, connector, "approval.extend", request_id, MEGAN, "channel")
    await check_every_copy(bot, connector, request_id, EXTENDED, extension="Extended by Megan Bowen")

    removal = Fault(route="policy.put", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(removal)
    clock.advance(days=2)
    sweep = asyncio.create_task(approvals.windows_due())
    await asyncio.wait_for(removal.arrived.wait(), 10)
    ((_, mine),) = request_copies(connector, PERSONAL, request_id)
    ((_, theirs),) = request_copies(connector, GROUP, request_id)
    channel_card = request_copies(connector, CHANNEL, request_id)[0][1]
    assert (title(mine), verbs(mine)) == (REMOVING[0], REMOVING[3])
    assert (title(theirs), title(channel_card), verbs(channel_card)) == (REMOVING[1], REMOVING[2], REMOVING[5])
    removal.gate.set()
    await sweep
    await check_every_copy(bot, connector, request_id, ENDED, extension="Extended by Megan Bowen")
    # The news went to each conversation as a reply, the approvers' in the approval card's thread.
    for conversation in (PERSONAL, GROUP, CHANNEL):
        assert [t for _, t in connector.news_in(conversation) if t.startswith("Ended: Join permission")]
