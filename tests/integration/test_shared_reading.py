"""One tenant, many pastes at once: the tenant's state is read once and shared, reused while fresh, and read anew
after any write the bot makes, after its freshness ends, and for a person's "Check again"."""

from __future__ import annotations

import asyncio
import copy

from app import DEPS
from sim.tenant import Fault
from tests.integration.test_diagnostic_flow import session_id_of, start
from tests.support.activities import card_action, message

ERROR = "A setup failure has occurred during bulk enrollment."
FRESH = "5"  # the default freshness, said here so the test reads on its own


def policy_reads(sim) -> int:
    return sum(1 for r in sim.simulator.requests if r["route"] == "policy.get")


def account_page_reads(sim) -> int:
    return sum(1 for r in sim.simulator.requests if "/users" in r["path"] and r["method"] == "GET" and not r["batch"])


async def test_concurrent_pastes_share_one_read_in_flight(bot_factory, connector, sim):
    bot = await bot_factory(TENANT_READING_SECONDS=FRESH)
    held = Fault(route="policy.get", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(held)
    pastes = [bot.post(message(connector.url, ERROR, user=f"tech-{n}"), settle=False) for n in range(6)]
    answers = await asyncio.gather(*pastes)
    assert all(status == 201 for status, _ in answers)
    await asyncio.wait_for(held.arrived.wait(), 10)
    held.gate.set()
    await bot.idle()
    assert policy_reads(sim) == 1  # six diagnoses, one reading of the tenant
    assert bot.app[DEPS].readings.reads == 1
    finished = [c for c in connector.cards() if str(c.get("fallbackText", "")).startswith("Device settings")]
    assert len(finished) == 6  # and every paste got its own finished step-1 card


async def test_a_fresh_reading_is_reused_until_it_is_old(bot_factory, connector, sim, clock):
    bot = await bot_factory(TENANT_READING_SECONDS=FRESH)
    await start(bot, connector)
    assert policy_reads(sim) == 1
    clock.advance(seconds=4)
    await start(bot, connector, user="tech-2")
    assert policy_reads(sim) == 1  # 4 s later: the same reading
    clock.advance(seconds=2)
    await start(bot, connector, user="tech-3")
    assert policy_reads(sim) == 2  # 6 s after it was read: read again


async def test_any_write_the_bot_makes_ends_the_reading(bot_factory, connector, sim):
    bot = await bot_factory(TENANT_READING_SECONDS="300")
    await start(bot, connector)
    assert policy_reads(sim) == 1
    policy = copy.deepcopy(sim.tenant.policy)
    policy["azureADJoin"]["allowedToJoin"] = {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"}
    await bot.app[DEPS].graph.put_policy(policy)  # the write the approval flow makes, through the same gateway
    card = await start(bot, connector, user="tech-2")
    assert policy_reads(sim) == 2
    assert "Users may join devices to Microsoft Entra ID is All" in card["fallbackText"], card["fallbackText"]


async def test_a_write_during_a_read_keeps_that_read_from_being_reused(bot_factory, connector, sim):
    bot = await bot_factory(TENANT_READING_SECONDS="300")
    held = Fault(route="policy.get", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(held)
    first = asyncio.ensure_future(bot.post(message(connector.url, ERROR), settle=False))
    await asyncio.wait_for(held.arrived.wait(), 10)
    policy = copy.deepcopy(sim.tenant.policy)
    policy["azureADJoin"]["allowedToJoin"] = {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"}
    await bot.app[DEPS].graph.put_policy(policy)
    held.gate.set()
    await first
    await bot.idle()
    card = await start(bot, connector, user="tech-2")
    assert policy_reads(sim) == 2  # the reading that straddled the write was not kept
    assert "Users may join devices to Microsoft Entra ID is All" in card["fallbackText"], card["fallbackText"]


async def test_check_again_reads_the_tenant_as_it_is_now(bot_factory, connector, sim):
    bot = await bot_factory(TENANT_READING_SECONDS="300")
    card = await start(bot, connector)
    reads = policy_reads(sim)
    # An admin changes the policy in the portal (not through the bot): "Check again" must see it at once.
    sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"
    }
    status, body = await bot.post(card_action(connector.url, "diagnosis.recheck", {"sessionId": session_id_of(card)}))
    assert status == 200
    assert policy_reads(sim) == reads + 1
    assert body["value"]["fallbackText"].startswith("Verify: join setting is All;")


async def test_unshared_each_diagnosis_reads_alone(bot_factory, connector, sim):
    bot = await bot_factory(TENANT_READING_SHARED="false", TENANT_READING_SECONDS="300")
    await asyncio.gather(*(bot.post(message(connector.url, ERROR, user=f"tech-{n}")) for n in range(3)))
    await bot.idle()
    assert policy_reads(sim) == 3
