"""Spike alerts over real HTTP: events in the simulated tenant, alerts through the recording connector."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from app import DEPS
from sim.spike import spike_events
from tests.support.activities import ALEX, CHANNEL, MEGAN, card_action, message
from tests.support.cards import elements, text_of

APPROVERS_GROUP = "d1e2f3a4-0000-4000-8000-00000000a001"
OPS = "19:ops@thread.tacv2"
GONE = "19:gone@thread.tacv2"


def event_at(when, category="authorization"):
    event = spike_events(1, when, category)[0]
    event["id"] = str(uuid.uuid4())
    return event


async def join_channel(bot, connector, conversation_id: str, user: str = MEGAN, text: str = "alerts on"):
    activity = message(connector.url, text, conversation_type="channel", user=user, mention=True)
    activity["conversation"]["id"] = conversation_id
    status, _ = await bot.post(activity)
    assert status == 201


@pytest.fixture
async def alert_bot(bot_factory, connector, sim, clock):
    sim.tenant.events.clear()
    # A quiet day: one bulk failure an hour, and some other enrollment noise that does not count.
    for hour in range(24, 0, -1):
        sim.tenant.events.append(event_at(clock.now() - timedelta(hours=hour, minutes=-7)))
        noise = event_at(clock.now() - timedelta(hours=hour, minutes=-20))
        noise["enrollmentType"] = "windowsAutoEnrollment"
        sim.tenant.events.append(noise)
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    # The admins' channel is subscribed by default; OPS subscribes with "alerts on".
    await join_channel(bot, connector, CHANNEL, text="use this channel for approvals")
    await join_channel(bot, connector, OPS)
    connector.clear()
    return bot


async def poll(bot):
    return await bot.app[DEPS].alerts.poll_once()


def alerts_in(connector, conversation):
    return [c for _, c in connector.cards_in(conversation, current=False) if "spiking" in text_of(c)]


def all_clears_in(connector, conversation):
    return [c for _, c in connector.cards_in(conversation, current=False) if "Back to normal" in text_of(c)]


async def test_quiet_spike_recovery_gives_one_alert_and_one_all_clear_per_channel(alert_bot, connector, sim, clock):
    bot = alert_bot
    assert await poll(bot) is None  # the quiet baseline
    sim.tenant.events.extend(spike_events(12, clock.now()))
    clock.advance(minutes=5)
    change = await poll(bot)
    assert change is not None and change.kind == "opened"
    for conversation in (CHANNEL, OPS):
        alerts = alerts_in(connector, conversation)
        assert len(alerts) == 1, conversation
        card = text_of(alerts[0])
        assert "failures in the last 60 minutes" in card
        assert "not authorized to join devices" in card
        assert "package_3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d@contoso.onmicrosoft.com" in card
        assert "alert.diagnose" in card and "alert.ack" in card
        (chart,) = [e for e in elements(alerts[0]) if e["type"] == "Chart.VerticalBar"]
        assert len(chart["data"]) == 6 and sum(p["y"] for p in chart["data"]) == change.overall.count
    for _ in range(6):  # the spike lasts: no repeat
        clock.advance(minutes=5)
        sim.tenant.events.append(event_at(clock.now()))
        await poll(bot)
    assert len(alerts_in(connector, CHANNEL)) == 1 and len(alerts_in(connector, OPS)) == 1
    clock.advance(hours=2)
    change = await poll(bot)
    assert change is not None and change.kind == "closed"
    for conversation in (CHANNEL, OPS):
        assert len(all_clears_in(connector, conversation)) == 1
        updated = [c for _, c in connector.cards_in(conversation, "update")]
        assert updated and "Resolved" in text_of(updated[-1])
    clock.advance(minutes=5)
    assert await poll(bot) is None


async def test_every_event_is_counted_once_across_restarts(alert_bot, bot_factory, connector, sim, clock):
    await poll(alert_bot)
    sim.tenant.events.extend(spike_events(12, clock.now()))
    clock.advance(minutes=5)
    assert (await poll(alert_bot)).kind == "opened"  # type: ignore[union-attr]
    await alert_bot.stop()
    restarted = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    clock.advance(minutes=16)  # the old process's poller lease (3 intervals) has run out: the new one polls
    assert await poll(restarted) is None  # mid-spike after a restart: no second alert
    assert restarted.app[DEPS].alerts.last_ingested == 0  # it did poll, and counted nothing again
    assert len(alerts_in(connector, CHANNEL)) == 1
    # The same events read again (overlapping pages) are not counted twice: the spike still ends on time.
    clock.advance(minutes=50)
    change = await poll(restarted)
    assert change is not None and change.kind == "closed"


async def test_a_channel_that_removed_the_bot_does_not_block_the_others(alert_bot, connector, sim, clock):
    bot = alert_bot
    await join_channel(bot, connector, GONE)
    connector.forbidden.add(GONE)
    await poll(bot)
    sim.tenant.events.extend(spike_events(12, clock.now()))
    clock.advance(minutes=5)
    await poll(bot)
    assert len(alerts_in(connector, CHANNEL)) == 1 and len(alerts_in(connector, OPS)) == 1
    subscriptions = await bot.app[DEPS].storage.list_subscriptions()
    assert subscriptions[GONE] is False and subscriptions[OPS] is True


async def test_graph_down_then_back_misses_nothing(alert_bot, connector, sim, clock):
    from bot.errors import GraphError
    from sim.tenant import Fault

    bot = alert_bot
    await poll(bot)
    sim.tenant.events.extend(spike_events(12, clock.now()))
    sim.tenant.faults.append(Fault(route="troubleshootingEvents.list", status=503, retry_after=0))
    clock.advance(minutes=5)
    with pytest.raises(GraphError):
        await poll(bot)
    sim.tenant.faults.clear()
    clock.advance(minutes=5)
    change = await poll(bot)
    assert change is not None and change.kind == "opened"
    assert change.overall.count >= 12


async def test_chat_reports_from_distinct_people_count(alert_bot, connector, sim, clock):
    bot = alert_bot
    await poll(bot)
    sim.tenant.users.update({})
    people = [f"8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f{n:02d}" for n in range(1, 8)]
    for person in people:
        await bot.post(message(connector.url, "bulk enrollment failed", user=person))
    clock.advance(minutes=1)
    change = await poll(bot)
    assert change is not None and "chat" in {k.key for k in change.keys}


async def test_alerts_on_is_for_approvers_and_diagnose_now_works_in_the_channel(alert_bot, connector):
    bot = alert_bot
    await join_channel(bot, connector, "19:other@thread.tacv2", user=ALEX)
    assert "Only members of Enrollment approvers can turn alerts on or off." in connector.texts_in(
        "19:other@thread.tacv2"
    )
    activity = card_action(connector.url, "diagnosis.start", {}, conversation_type="channel", user=MEGAN)
    status, body = await bot.post(activity)
    assert status == 200 and "Device settings" in text_of(body["value"])


async def spike(bot, sim, clock):
    await poll(bot)
    sim.tenant.events.extend(spike_events(12, clock.now()))
    clock.advance(minutes=5)
    change = await poll(bot)
    assert change is not None and change.kind == "opened"
    return change


def alert_posted(connector, conversation: str) -> str:
    """The id Teams gave the alert card posted to `conversation`."""
    (sent,) = [
        c.sent_id
        for c in connector.calls
        if c.method == "send" and c.conversation_id == conversation and "spiking" in text_of(c.activity)
    ]
    return sent


def on_alert(connector, verb: str, incident: str, alert_id: str, user: str) -> dict:
    """A press on the alert card in the admins' channel: Teams names the card's thread and the card."""
    activity = card_action(
        connector.url, verb, {"incidentId": incident}, conversation_type="channel", user=user, reply_to=alert_id
    )
    activity["conversation"]["id"] = f"{CHANNEL};messageid={alert_id}"
    activity["from"]["name"] = {MEGAN: "Megan Bowen", ALEX: "Alex Wilber"}.get(user, "someone")
    return activity


async def test_diagnose_now_answers_in_a_reply_and_the_alert_stays_an_alert(alert_bot, connector, sim, clock):
    bot = alert_bot
    change = await spike(bot, sim, clock)
    alert_id = alert_posted(connector, CHANNEL)
    status, body = await bot.post(on_alert(connector, "alert.diagnose", change.incident_id, alert_id, MEGAN))
    assert status == 200
    assert "Bulk enrollment failures are spiking" in text_of(body["value"])  # for the clicker, still the alert
    await bot.idle()
    thread = f"{CHANNEL};messageid={alert_id}"
    replies = [c for c in connector.calls if c.method == "send" and c.conversation_id == thread]
    assert replies[0].activity["text"] == "Megan Bowen asked me to diagnose this alert: the steps follow."
    diagnosis_id = replies[1].sent_id
    assert "Device settings" in text_of(connector.latest(diagnosis_id))  # the checking card became step 1
    started = [text_of(c.activity) for c in replies[1:]] + [text_of(connector.latest(diagnosis_id))]
    assert all("From your message" not in card for card in started)  # nobody wrote a message: it came from the alert
    assert "What I recognised" in started[-1] and "package_3f2a\u20265c6d" in started[-1]
    # The alert says, for everyone, that a diagnosis is under way; it carries the incident's package account.
    updated = text_of(connector.latest(alert_id))
    assert "Megan Bowen started a diagnosis at" in updated and "spiking" in updated
    # The steps go on in the thread.
    step_card = connector.latest(diagnosis_id)
    session_id = next(a["data"]["sessionId"] for a in step_card["actions"] if "sessionId" in a["data"])
    activity = card_action(
        connector.url,
        "diagnosis.step",
        {"sessionId": session_id, "step": "join"},
        conversation_type="channel",
        user=ALEX,
        reply_to=diagnosis_id,
    )
    activity["conversation"]["id"] = thread
    status, body = await bot.post(activity)
    await bot.idle()
    assert status == 200 and "Join permissions" in text_of(connector.latest(diagnosis_id))
    assert "package_3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d" in text_of(connector.latest(diagnosis_id))


async def test_im_on_it_shows_everyone_who_took_the_alert_and_the_all_clear_names_them(
    alert_bot, connector, sim, clock
):
    bot = alert_bot
    change = await spike(bot, sim, clock)
    alert_id = alert_posted(connector, CHANNEL)
    ops_id = alert_posted(connector, OPS)
    status, body = await bot.post(on_alert(connector, "alert.ack", change.incident_id, alert_id, MEGAN))
    assert status == 200
    mine = text_of(body["value"])
    assert "**Megan Bowen** is on it (since" in mine and "alert.ack" not in mine and "alert.diagnose" in mine
    await bot.idle()
    for post in (alert_id, ops_id):  # every copy of the alert, for everyone in those conversations
        assert "**Megan Bowen** is on it" in text_of(connector.latest(post))
    # A second person pressing an old copy is told who has it; the alert is not taken from Megan.
    status, body = await bot.post(on_alert(connector, "alert.ack", change.incident_id, alert_id, ALEX))
    late = text_of(body["value"])
    assert "Megan Bowen took this alert at" in late and "**Megan Bowen** is on it" in late
    await bot.idle()
    assert "Alex" not in text_of(connector.latest(ops_id))
    # Recovery: resolved, by whom.
    clock.advance(hours=2)
    assert (await poll(bot)).kind == "closed"  # type: ignore[union-attr]
    resolved = text_of(connector.latest(alert_id))
    assert "Resolved" in resolved and "Megan Bowen was on it." in resolved and "alert.ack" not in resolved
    assert "Megan Bowen was on it." in text_of(all_clears_in(connector, CHANNEL)[0])


async def test_a_press_on_an_unknown_alert_is_a_clear_answer(alert_bot, connector):
    status, body = await alert_bot.post(on_alert(connector, "alert.ack", "spike-0", "activity-9", MEGAN))
    assert status == 200 and "I no longer know this alert" in text_of(body["value"])


async def test_the_loop_polls_on_its_own(bot_factory, sim, connector):
    bot = await bot_factory(ALERTS_ENABLED="true", ALERT_POLL_SECONDS="1")
    import asyncio

    for _ in range(50):
        if any(r["route"] == "troubleshootingEvents.list" for r in sim.simulator.requests):
            break
        await asyncio.sleep(0.05)
    assert any(r["route"] == "troubleshootingEvents.list" for r in sim.simulator.requests)
    await bot.stop()


async def test_two_replicas_alert_once(alert_bot, bot_factory, connector, sim, clock):
    other = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)  # a second replica on the same database
    await poll(alert_bot)
    assert await poll(other) is None  # the lease is held by the first replica
    sim.tenant.events.extend(spike_events(12, clock.now()))
    clock.advance(minutes=5)
    changes = [await poll(other), await poll(alert_bot)]
    assert [c.kind for c in changes if c] == ["opened"]
    assert len(alerts_in(connector, CHANNEL)) == 1


async def test_two_replicas_polling_at_the_same_moment_alert_once(alert_bot, bot_factory, connector, sim, clock):
    """Both replicas poll at once, each with its own state in memory: only the lease keeps them from both
    reading the same spike and both posting it."""
    other = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    await asyncio.gather(poll(alert_bot), poll(other))
    sim.tenant.events.extend(spike_events(12, clock.now()))
    clock.advance(minutes=5)
    changes = await asyncio.gather(poll(alert_bot), poll(other))
    assert [c.kind for c in changes if c] == ["opened"]
    assert changes.count(None) == 1
    assert len(alerts_in(connector, CHANNEL)) == 1
