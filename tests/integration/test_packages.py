"""Before failures happen: package expiry warnings and new package accounts, through the alerts poller, against
the simulated tenant; exactly once per threshold, across restarts and replicas."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app import DEPS
from tests.support.activities import CHANNEL, MEGAN, NESTOR, card_action, message
from tests.support.cards import actions_in, text_of

APPROVERS_GROUP = "d1e2f3a4-0000-4000-8000-00000000a001"
SOON = "c0a80001-5a1e-4b7c-8d9e-000000000101"  # package_3f2a…
LATER = "c0a80001-5a1e-4b7c-8d9e-000000000102"  # package_8b1c…
NEW_ID = "c0a80001-5a1e-4b7c-8d9e-0000000009aa"
NEW_UPN = "package_9a9a9a9a-1111-4222-8333-44445555aaaa@contoso.onmicrosoft.com"


def created(sim, account_id: str, when) -> None:
    sim.tenant.users[account_id]["createdDateTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_package_account(sim, clock) -> None:
    """A package made in Windows Configuration Designer just now: its package account appears in the directory."""
    sim.tenant.users[NEW_ID] = {
        "id": NEW_ID,
        "displayName": "package_9a9a",
        "userPrincipalName": NEW_UPN,
        "accountEnabled": True,
        "createdDateTime": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@pytest.fixture
async def watch_bot(bot_factory, connector, sim, clock):
    sim.tenant.events.clear()
    # Every package account fresh, except the two the tests age.
    for user in sim.tenant.users.values():
        if user["userPrincipalName"].startswith("package_"):
            user["createdDateTime"] = (clock.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    status, _ = await bot.post(
        message(connector.url, "use this channel for approvals", conversation_type="channel", user=MEGAN, mention=True)
    )
    assert status == 201
    connector.clear()
    return bot


async def poll(bot):
    return await bot.app[DEPS].alerts.poll_once()


def expiry_cards(connector, conversation=CHANNEL):
    return [c for _, c in connector.cards_in(conversation) if "expire" in text_of(c) and "soon" in text_of(c)]


async def test_one_warning_per_package_per_threshold_grouped_when_together(watch_bot, connector, sim, clock):
    bot = watch_bot
    created(sim, SOON, clock.now() - timedelta(days=178))  # 2 days left: past both 14 and 3
    created(sim, LATER, clock.now() - timedelta(days=167))  # 13 days left: past 14
    await poll(bot)
    (card,) = expiry_cards(connector)
    words = text_of(card)
    assert "2 provisioning packages expire soon" in words
    assert "package\\_3f2a\u20265c6d" not in words and "package_3f2a\u20265c6d" in words  # short, escaped once
    assert "(in 2 days" in words and "(in 13 days" in words
    assert "Windows Configuration Designer" in words and "Show all 2" in words
    for _ in range(3):  # later polls: nothing again
        clock.advance(hours=6)
        await poll(bot)
    assert len(expiry_cards(connector)) == 1
    clock.advance(days=10)  # LATER now has 3 days left: its second threshold
    await poll(bot)
    cards = expiry_cards(connector)
    assert len(cards) == 2 and "1 provisioning package expires soon" in text_of(cards[1])
    assert "package_8b1c" in text_of(cards[1]) and "package_3f2a" not in text_of(cards[1])
    clock.advance(days=5)  # both expired: the diagnosis speaks for them now, no more warnings
    await poll(bot)
    assert len(expiry_cards(connector)) == 2


async def test_a_restart_between_due_and_done_delivers_once(watch_bot, bot_factory, connector, sim, clock):
    created(sim, SOON, clock.now() - timedelta(days=170))
    connector.faults.append("500")  # Teams does not take the card (a 500 is not retried)
    await poll(watch_bot)
    assert expiry_cards(connector) == []
    await watch_bot.stop()
    restarted = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    clock.advance(minutes=16)  # the old process's lease has run out
    await poll(restarted)
    await poll(restarted)
    assert len(expiry_cards(connector)) == 1


async def test_two_replicas_polling_at_once_warn_once(watch_bot, bot_factory, connector, sim, clock):
    other = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    created(sim, SOON, clock.now() - timedelta(days=170))
    await asyncio.gather(poll(watch_bot), poll(other))
    clock.advance(minutes=20)
    await asyncio.gather(poll(watch_bot), poll(other))
    assert len(expiry_cards(connector)) == 1


async def test_a_new_package_account_without_the_join_permission_is_offered_ready_to_request(
    watch_bot, connector, sim, clock
):
    bot = watch_bot
    await poll(bot)  # the first look learns what exists: nothing is new
    assert not [c for _, c in connector.cards_in(CHANNEL) if "New package account" in text_of(c)]
    new_package_account(sim, clock)
    clock.advance(minutes=5)
    await poll(bot)
    clock.advance(minutes=5)
    await poll(bot)
    offers = [c for _, c in connector.cards_in(CHANNEL) if "New package account" in text_of(c)]
    assert len(offers) == 1
    assert "package_9a9a\u2026aaaa" in text_of(offers[0]) and NEW_UPN in text_of(offers[0])
    (button,) = actions_in(offers[0])
    # Megan asks; Nestor approves; the new account may join before any device has failed.
    status, body = await bot.post(
        card_action(connector.url, button["verb"], button["data"], conversation_type="channel", user=MEGAN)
    )
    await bot.idle()
    assert status == 200
    request_card = [c for _, c in connector.cards_in(CHANNEL) if "Approve a tenant change" in text_of(c)][-1]
    assert "noticed before any device failed" in text_of(request_card)
    request_id = next(a["data"]["requestId"] for a in actions_in(request_card) if "requestId" in a["data"])
    status, _ = await bot.post(
        card_action(
            connector.url, "approval.approve", {"requestId": request_id}, conversation_type="channel", user=NESTOR
        )
    )
    await bot.idle()
    assert NEW_ID in sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"]


async def test_a_new_package_account_that_may_already_join_is_not_offered(watch_bot, connector, sim, clock):
    await poll(watch_bot)
    sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"
    }
    new_package_account(sim, clock)
    clock.advance(minutes=5)
    await poll(watch_bot)
    assert not [c for _, c in connector.cards_in(CHANNEL) if "New package account" in text_of(c)]


async def test_a_new_package_account_already_allowed_through_a_selected_group_is_not_offered(
    watch_bot, connector, sim, clock
):
    await poll(watch_bot)
    new_package_account(sim, clock)
    # "Lab package accounts" is nested in "Device joiners", the group listed in Selected.
    sim.tenant.groups["d1e2f3a4-0000-4000-8000-00000000a004"]["members"].append(NEW_ID)
    clock.advance(minutes=5)
    await poll(watch_bot)
    assert not [c for _, c in connector.cards_in(CHANNEL) if "New package account" in text_of(c)]


async def test_a_warning_owed_before_any_channel_exists_waits_for_one_and_comes_once(
    bot_factory, connector, sim, clock
):
    """Nothing owed is settled without a recipient: no conversation is subscribed at the first poll."""
    sim.tenant.events.clear()
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    created(sim, SOON, clock.now() - timedelta(days=170))  # 10 days left
    await poll(bot)
    assert connector.calls == []  # nobody to tell yet
    clock.advance(minutes=1)
    await poll(bot)
    status, _ = await bot.post(
        message(connector.url, "use this channel for approvals", conversation_type="channel", user=MEGAN, mention=True)
    )
    assert status == 201
    for _ in range(3):
        clock.advance(minutes=20)
        await poll(bot)
    (card,) = expiry_cards(connector)
    assert "1 provisioning package expires soon" in text_of(card) and "(in 10 days" in text_of(card)


async def test_a_warning_that_waited_past_the_expiry_itself_is_not_posted(bot_factory, connector, sim, clock):
    sim.tenant.events.clear()
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    created(sim, SOON, clock.now() - timedelta(days=178))  # 2 days left, and nobody to tell
    await poll(bot)
    clock.advance(days=3)
    status, _ = await bot.post(
        message(connector.url, "use this channel for approvals", conversation_type="channel", user=MEGAN, mention=True)
    )
    assert status == 201
    await poll(bot)
    assert expiry_cards(connector) == []  # "expires in less than a day" would be false: it has expired
