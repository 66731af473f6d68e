"""Time-bound join permissions over real HTTP: the window is chosen on the card, starts when the change is applied,
reminds the requester, can be extended or ended by an approver, and at its end removes exactly the accounts the
change added, once, whatever else changed in the policy meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import DEPS
from sim.tenant import Fault
from tests.support.activities import ALEX, CHANNEL, MEGAN, NESTOR, PERSONAL, card_action, message
from tests.support.cards import actions_in, text_of

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
    status_card = body["value"]
    request_id = next(a["data"]["requestId"] for a in actions_in(status_card) if "requestId" in a["data"])
    await on_request(bot, connector, "approval.approve", request_id, NESTOR)
    return request_id


async def test_the_window_ends_and_exactly_our_accounts_are_removed(window_bot, bot_factory, connector, sim, clock):
    bot = window_bot
    replica = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP, JOIN_WINDOWS="1d,7d")  # same database
    approvals = bot.app[DEPS].approvals
    request_id = await applied_with_window(bot, connector)
    assert set(OURS) <= set(allowed(sim)) and len(puts(sim)) == 1
    card = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "1 day: until" in card
    # Meanwhile someone adds a user of their own by hand.
    sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"].append(SOMEONE_ELSE)
    clock.advance(hours=11)
    await approvals.windows_due()
    assert len(puts(sim)) == 1 and not [t for t in connector.texts_in(PERSONAL) if "ends at" in t]
    clock.advance(hours=2)  # 11 hours left: the reminder (half a 1-day window ahead, at most a day)
    await approvals.windows_due()
    await approvals.windows_due()
    reminders = [
        c for _, c in connector.cards_in(PERSONAL) if "Ask to extend" in text_of(c) and "ends at" in text_of(c)
    ]
    assert len(reminders) == 1
    clock.advance(hours=12)
    # Two replicas sweep at the same moment: one removal.
    await asyncio.gather(approvals.windows_due(), replica.app[DEPS].approvals.windows_due())
    await bot.idle()
    assert len(puts(sim)) == 2
    assert len([t for t in connector.texts_in(CHANNEL) if "the join window ended" in t]) == 1
    assert not set(OURS) & set(allowed(sim)) and SOMEONE_ELSE in allowed(sim)  # theirs kept
    for text in (connector.texts_in(CHANNEL)[-1], connector.texts_in(PERSONAL)[-1]):
        assert "the join window ended; removed 2 package accounts from the Selected list." in text
    clock.advance(days=2)
    await approvals.windows_due()
    assert len(puts(sim)) == 2  # never twice
    audit = [e.action for e in await bot.app[DEPS].storage.list_audit() if e.request_id == request_id]
    assert audit[-3:] == ["window_remind", "window_end", "window_closed"]
    final = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "ended" in final and "Extend by" not in final


async def test_accounts_also_allowed_through_a_group_are_said_and_nothing_else_is_touched(
    window_bot, connector, sim, clock
):
    bot = window_bot
    await applied_with_window(bot, connector)
    joiners = next(g for g in sim.tenant.groups.values() if g["displayName"] == "Device joiners")
    joiners["members"].append(OURS[0])  # someone granted it through the group meanwhile
    clock.advance(days=1, minutes=1)
    await bot.app[DEPS].approvals.windows_due()
    assert "1 of them may still join through something that is not this change" in connector.texts_in(CHANNEL)[-1]
    assert OURS[0] not in allowed(sim)  # our direct entry removed; the group, not ours, left as is


async def test_an_approver_extends_or_ends_the_window_and_the_requester_asks(window_bot, connector, sim, clock):
    bot = window_bot
    approvals = bot.app[DEPS].approvals
    request_id = await applied_with_window(bot, connector)
    asked = await on_request(
        bot, connector, "approval.ask_extend", request_id, "8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f01", "personal"
    )
    assert "Ask to extend" not in text_of(asked)
    approver_view = await on_request(bot, connector, "approval.view", request_id, MEGAN)
    assert "asks for 1 day more" in text_of(approver_view) and "approval.extend" in text_of(approver_view)
    refused = await on_request(bot, connector, "approval.extend", request_id, ALEX)
    assert "Only an approver can extend or end the window" in text_of(refused)
    extended = await on_request(bot, connector, "approval.extend", request_id, MEGAN)
    assert "until" in text_of(extended)
    clock.advance(days=1, hours=1)  # past the first end, within the extension
    await approvals.windows_due()
    assert set(OURS) <= set(allowed(sim))
    await on_request(bot, connector, "approval.end", request_id, NESTOR)
    await bot.idle()
    assert not set(OURS) & set(allowed(sim))


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
    removals = [r for r in puts(sim) if r.get("status", 200) < 300]
    assert len([t for t in connector.texts_in(CHANNEL) if "the join window ended" in t]) == 1
    assert removals


async def test_permanent_is_permanent(window_bot, connector, sim, clock):
    bot = window_bot
    await applied_with_window(bot, connector, window="permanent")
    clock.advance(days=400)
    await bot.app[DEPS].approvals.windows_due()
    assert set(OURS) <= set(allowed(sim)) and len(puts(sim)) == 1
