"""Time-bound join permissions over real HTTP: the window is chosen on the card, starts when the change is applied,
reminds the requester, can be extended or ended by an approver, and at its end removes exactly the accounts the
change added, once, whatever else changed in the policy meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import DEPS
from bot.domain.approval import State
from sim.tenant import Fault
from tests.support.activities import ALEX, CHANNEL, MEGAN, NESTOR, PERSONAL, REQUESTER, card_action, message
from tests.support.cards import text_of
from tests.support.requests import latest_request_card, request_copies

APPROVERS_GROUP = "d1e2f3a4-0000-4000-8000-00000000a001"
OURS = ["c0a80001-5a1e-4b7c-8d9e-000000000101", "c0a80001-5a1e-4b7c-8d9e-000000000102"]
SOMEONE_ELSE = "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f07"


@pytest.fixture
async def window_bot(bot_factory, connector):
    connector.members = [
        {"id": f"29:{u}", "aadObjectId": u, "name": n} for u, n in ((MEGAN, "Megan"), (NESTOR, "Nestor"))
    ]
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP, JOIN_WINDOWS="1d,7d", JOIN_WINDOW_DEFAULT="7d")
    status, _ = await bot.post(
        message(connector.url, "use this channel for approvals", conversation_type="channel", user=MEGAN, mention=True)
    )
    assert status == 201
    return bot


def puts(sim) -> list[dict[str, Any]]:
    return [r for r in sim.simulator.requests if r["route"] == "policy.put"]


def allowed(sim) -> list[str]:
    return list(sim.tenant.policy["azureADJoin"]["allowedToJoin"].get("users", []))


async def on_request(bot, connector, verb: str, request_id: str, user: str, where: str = "channel") -> dict:
    status, body = await bot.post(
        card_action(connector.url, verb, {"requestId": request_id}, conversation_type=where, user=user)
    )
    assert status == 200
    await bot.idle()
    return body["value"]


async def applied_with_window(bot, connector, window: str | None = "1d") -> str:
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    join = connector.cards()[-1]
    session_id = next(a["data"]["sessionId"] for a in join["actions"] if "sessionId" in a["data"])
    status, body = await bot.post(
        card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": "join"}, reply_to="")
    )
    choice = next(e for e in body["value"]["body"] if e.get("id") == "window")
    assert [c["value"] for c in choice["choices"]] == ["1d", "7d", "permanent"] and choice["value"] == "7d"
    data = {"sessionId": session_id, **({"window": window} if window else {})}
    status, body = await bot.post(card_action(connector.url, "approval.request", data, reply_to=""))
    await bot.idle()
    request_id, _, _ = latest_request_card(connector, PERSONAL)
    await on_request(bot, connector, "approval.approve", request_id, NESTOR)
    return request_id


def news(connector, conversation: str) -> list[str]:
    return [text for _, text in connector.news_in(conversation)]


def first_lines(connector, conversation: str, start: str) -> list[str]:
    return [t.splitlines()[0] for t in news(connector, conversation) if t.startswith(start)]


async def test_the_window_ends_and_exactly_our_accounts_are_removed(window_bot, bot_factory, connector, sim, clock):
    bot = window_bot
    replica = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP, JOIN_WINDOWS="1d,7d")  # same database
    approvals = bot.app[DEPS].approvals
    request_id = await applied_with_window(bot, connector)
    assert set(OURS) <= set(allowed(sim)) and len(puts(sim)) == 1
    card = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "1 day: until" in card
    ((request_card_id, _),) = request_copies(connector, PERSONAL, request_id)
    # Meanwhile someone adds a user of their own by hand.
    sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"].append(SOMEONE_ELSE)
    clock.advance(hours=11, minutes=59)  # a minute before the lead time (half a 1-day window: 12 hours ahead)
    await approvals.windows_due()
    assert len(puts(sim)) == 1 and not first_lines(connector, PERSONAL, "Ends ")
    clock.advance(minutes=1)  # now 12 hours are left: the reminder, once
    await approvals.windows_due()
    await approvals.windows_due()
    reminders = [(to, t) for to, t in connector.news_in(PERSONAL) if t.startswith("Ends ")]
    assert len(reminders) == 1
    replied_to, reminder = reminders[0]
    assert replied_to == request_card_id  # a short reply to the request card, the news first
    assert reminder.splitlines()[0].endswith("Join permission for 2 package accounts, asked by Adele Vance.")
    ((_, request_card),) = request_copies(connector, PERSONAL, request_id)
    assert "Your request: Applied, ending soon" in text_of(request_card) and "Ask to extend" in text_of(request_card)
    clock.advance(hours=12)
    # Two replicas sweep at the same moment: one removal.
    await asyncio.gather(approvals.windows_due(), replica.app[DEPS].approvals.windows_due())
    await bot.idle()
    assert len(puts(sim)) == 2
    removal = puts(sim)[1]  # the first PUT was the apply's own
    assert not set(OURS) & set(removal["body"]["azureADJoin"]["allowedToJoin"]["users"])
    assert not set(OURS) & set(allowed(sim)) and SOMEONE_ELSE in allowed(sim)  # theirs kept
    ended = (
        "Ended: Join permission for 2 package accounts, asked by Adele Vance. "
        "Removed 2 package accounts from the Selected list."
    )
    assert first_lines(connector, CHANNEL, "Ended") == [ended]  # in the approval card's thread, once
    assert first_lines(connector, PERSONAL, "Ended") == [ended]
    clock.advance(days=2)
    await approvals.windows_due()
    assert len(puts(sim)) == 2  # never twice
    audit = [e.action for e in await bot.app[DEPS].storage.list_audit() if e.request_id == request_id]
    assert audit[-3:] == ["window_remind", "window_end", "window_closed"]
    final = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "Tenant change ended" in final and "Extend by" not in final and "Approve a tenant change" not in final
    assert "the policy now allows" not in final  # no green "applied" next to "ended"
    ((_, request_card),) = request_copies(connector, PERSONAL, request_id)
    assert "Your request: Ended" in text_of(request_card)
    assert "Ask to extend" not in text_of(request_card) and "until" not in text_of(request_card)


async def test_a_removal_graph_accepts_but_does_not_keep_is_not_reported_as_removed(window_bot, connector, sim, clock):
    bot = window_bot
    request_id = await applied_with_window(bot, connector)
    sim.tenant.faults.append(Fault(route="policy.put", lose_write=True, times=1))
    clock.advance(days=1, minutes=1)
    await bot.app[DEPS].approvals.windows_due()
    assert [r["status"] for r in puts(sim)] == [200, 200]  # Graph said yes to the removal ...
    assert set(OURS) <= set(allowed(sim))  # ... and kept nothing
    assert not first_lines(connector, CHANNEL, "Ended") and not first_lines(connector, PERSONAL, "Ended")
    ((_, request_card),) = request_copies(connector, PERSONAL, request_id)
    assert "Window over, removing" in text_of(request_card)
    clock.advance(minutes=30)  # after the stuck period the next sweep tries again, and this time it holds
    await bot.app[DEPS].approvals.windows_due()
    assert not set(OURS) & set(allowed(sim))
    assert len(first_lines(connector, PERSONAL, "Ended")) == 1


async def test_a_window_that_is_not_offered_is_refused(window_bot, connector, sim):
    bot = window_bot
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    join = connector.cards()[-1]
    session_id = next(a["data"]["sessionId"] for a in join["actions"] if "sessionId" in a["data"])
    data = {"sessionId": session_id, "window": "3d"}
    status, body = await bot.post(card_action(connector.url, "approval.request", data, reply_to=""))
    await bot.idle()
    assert status == 200
    assert "is not a window offered here (1 day, 7 days, permanently): nothing was asked" in text_of(body["value"])
    assert await bot.app[DEPS].storage.list_approvals(list(State)) == []
    assert connector.cards_in(CHANNEL) == []


async def test_accounts_also_allowed_through_a_group_are_said_and_nothing_else_is_touched(
    window_bot, connector, sim, clock
):
    bot = window_bot
    await applied_with_window(bot, connector)
    joiners = next(g for g in sim.tenant.groups.values() if g["displayName"] == "Device joiners")
    joiners["members"].append(OURS[0])  # someone granted it through the group meanwhile
    clock.advance(days=1, minutes=1)
    await bot.app[DEPS].approvals.windows_due()
    (ended,) = [t for t in news(connector, CHANNEL) if t.startswith("Ended")]
    assert "1 of them may still join through something that is not this change" in ended
    assert OURS[0] not in allowed(sim)  # our direct entry removed; the group, not ours, left as is


def extension_posts(connector, request_id: str) -> list[tuple[str, dict]]:
    """Posts in the approval card's thread about the request (not the approval card itself)."""
    thread = [c for c in connector.calls if c.method == "send" and ";messageid=" in c.conversation_id]
    ids = {c.sent_id for c in thread}
    return [(i, c) for i, c in request_copies(connector, CHANNEL, request_id) if i in ids]


async def test_an_extension_is_asked_in_the_thread_granted_and_reminded_again(window_bot, connector, sim, clock):
    bot = window_bot
    approvals = bot.app[DEPS].approvals
    request_id = await applied_with_window(bot, connector)
    clock.advance(hours=12)  # 12 hours left of the day: the first reminder
    await approvals.windows_due()
    assert len(first_lines(connector, PERSONAL, "Ends ")) == 1
    asked = await on_request(bot, connector, "approval.ask_extend", request_id, REQUESTER, "personal")
    assert "Ask to extend" not in text_of(asked) and "Your request: Applied, extension asked" in text_of(asked)
    # Approvers hear of it: a new post in the approval card's thread, its Extend for approvers on refresh.
    ((post_id, post),) = extension_posts(connector, request_id)
    assert "Adele Vance asks to extend by 1 day" in text_of(post)
    assert post["refresh"]["userIds"] == [f"29:{MEGAN}", f"29:{NESTOR}"]
    approver_view = await on_request(bot, connector, "approval.view", request_id, MEGAN)
    assert "approval.extend" in text_of(approver_view)
    again = await on_request(bot, connector, "approval.ask_extend", request_id, REQUESTER, "personal")
    assert "An extension is already asked for" in text_of(again) and "approval.ask_extend" not in text_of(again)
    assert len(extension_posts(connector, request_id)) == 1
    refused = await on_request(bot, connector, "approval.extend", request_id, ALEX)
    assert "Only an approver can extend or end the window" in text_of(refused)
    extended = await on_request(bot, connector, "approval.extend", request_id, MEGAN)
    assert "until" in text_of(extended)
    ((_, post),) = extension_posts(connector, request_id)
    assert "Extended by Megan Bowen" in text_of(post) and "approval.extend" not in text_of(post)
    assert "refresh" not in post  # decided: nothing left for approvers on it
    assert first_lines(connector, PERSONAL, "Extended by Megan Bowen until")
    # The first reminder was before the extension; the extended window (now until 36 hours from here) gets its
    # own, at its own lead time.
    clock.advance(hours=13)  # past the first end, within the extension: nothing removed, no reminder yet
    await approvals.windows_due()
    assert set(OURS) <= set(allowed(sim)) and len(first_lines(connector, PERSONAL, "Ends ")) == 1
    clock.advance(hours=11)  # 12 hours before the new end
    await approvals.windows_due()
    assert len(first_lines(connector, PERSONAL, "Ends ")) == 2
    await on_request(bot, connector, "approval.end", request_id, NESTOR)
    await bot.idle()
    assert not set(OURS) & set(allowed(sim))
    audit = [e.action for e in await bot.app[DEPS].storage.list_audit() if e.request_id == request_id]
    assert audit[-7:] == [
        "window_remind",
        "window_ask_extend",
        "window_extend",
        "window_remind",
        "window_end_early",
        "window_end",
        "window_closed",
    ]


async def test_an_extension_nobody_decides_lapses_at_the_end_and_both_sides_hear_it(window_bot, connector, sim, clock):
    bot = window_bot
    request_id = await applied_with_window(bot, connector)
    await on_request(bot, connector, "approval.ask_extend", request_id, REQUESTER, "personal")
    clock.advance(days=1, minutes=1)
    await bot.app[DEPS].approvals.windows_due()
    assert not set(OURS) & set(allowed(sim))
    for conversation in (CHANNEL, PERSONAL):
        (ended,) = [t for t in news(connector, conversation) if t.startswith("Ended")]
        assert "The extension Adele Vance asked for was not decided in time: it lapsed." in ended
    ((_, post),) = extension_posts(connector, request_id)
    assert "Extension not granted: the window ended" in text_of(post) and "approval.extend" not in text_of(post)
    # A press on an older copy is answered from where the request stands, with the way on.
    late = await on_request(bot, connector, "approval.ask_extend", request_id, REQUESTER, "personal")
    assert "Its window ended and I removed the accounts it added" in text_of(late)
    assert "To ask again, run the diagnosis" in text_of(late) and "approval.ask_extend" not in text_of(late)


async def test_a_removal_that_fails_is_finished_later_by_whichever_replica_sweeps(
    window_bot, bot_factory, connector, sim, clock
):
    bot = window_bot
    await applied_with_window(bot, connector)
    sim.tenant.faults.append(Fault(route="policy.put", status=503, retry_after=0))
    clock.advance(days=1, minutes=1)
    await bot.app[DEPS].approvals.windows_due()
    assert set(OURS) <= set(allowed(sim))  # not removed yet, and not marked done
    sim.tenant.faults.clear()
    other = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP, JOIN_WINDOWS="1d,7d")
    await other.app[DEPS].approvals.windows_due()  # within the stuck period: left to the first
    assert set(OURS) <= set(allowed(sim))
    clock.advance(minutes=30)
    await other.app[DEPS].approvals.windows_due()
    assert not set(OURS) & set(allowed(sim))
    assert len(first_lines(connector, CHANNEL, "Ended")) == 1
    removals = [r for r in puts(sim)[1:] if r["status"] < 300]  # after the apply's own PUT
    assert len(removals) == 1 and not set(OURS) & set(removals[0]["body"]["azureADJoin"]["allowedToJoin"]["users"])


async def test_permanent_is_permanent(window_bot, connector, sim, clock):
    bot = window_bot
    await applied_with_window(bot, connector, window="permanent")
    # Chosen, not defaulted: and the approval card says plainly what it means.
    assert "Permanently: nothing removes these accounts later" in text_of(connector.cards_in(CHANNEL)[0][1])
    clock.advance(days=400)
    await bot.app[DEPS].approvals.windows_due()
    assert set(OURS) <= set(allowed(sim)) and len(puts(sim)) == 1
