"""Approvals over real HTTP: the admins' channel, who may approve, exactly-once apply, stale plans, restarts."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.tenant import Fault
from tests.support.activities import ALEX, CHANNEL, MEGAN, NESTOR, PERSONAL, REQUESTER, card_action, message
from tests.support.cards import actions_in, text_of
from tests.support.requests import latest_request_card, request_copies

APPROVERS_GROUP = "d1e2f3a4-0000-4000-8000-00000000a001"
UNCOVERED = ["c0a80001-5a1e-4b7c-8d9e-000000000101", "c0a80001-5a1e-4b7c-8d9e-000000000102"]
ROOT = Path(__file__).resolve().parents[2]


def puts(sim) -> list[dict[str, Any]]:
    return [r for r in sim.simulator.requests if r["route"] == "policy.put"]


@pytest.fixture
async def approvals_bot(bot_factory, connector):
    connector.members = [
        {"id": f"29:{user}", "aadObjectId": user, "name": name}
        for user, name in ((MEGAN, "Megan Bowen"), (NESTOR, "Nestor Wilke"), (ALEX, "Alex Wilber"))
    ]
    return await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)


async def use_channel(bot, connector, user: str = MEGAN) -> None:
    status, _ = await bot.post(
        message(connector.url, "use this channel for approvals", conversation_type="channel", user=user, mention=True)
    )
    assert status == 201


async def request_change(
    bot, connector, justification: str = "Room 101 PCs fail", user: str = REQUESTER, where: str = "personal"
) -> tuple[str, dict[str, Any]]:
    """A person diagnoses in their chat and asks for approval; returns (request id, their request card). The
    diagnosis card stays a diagnosis card; the request card is a new message of its own."""
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment.", user=user))
    card = connector.cards()[-1]
    session_id = next(a["data"]["sessionId"] for a in card["actions"] if "sessionId" in a["data"])
    status, body = await bot.post(
        card_action(
            connector.url,
            "approval.request",
            {"sessionId": session_id, "justification": justification},
            reply_to="requester-card-1",
            user=user,
        )
    )
    assert status == 200
    assert "step 2 of 3" in text_of(body["value"])  # the diagnosis card stays the diagnosis
    await bot.idle()
    request_id, _, request_card = latest_request_card(connector, PERSONAL if where == "personal" else where)
    return request_id, request_card


async def act(bot, connector, verb: str, request_id: str, user: str, **data: Any) -> dict[str, Any]:
    conversation = "personal" if verb == "approval.cancel" else "channel"
    status, body = await bot.post(
        card_action(
            connector.url,
            verb,
            {"requestId": request_id, **data},
            conversation_type=conversation,
            user=user,
            reply_to="approval-card",
        )
    )
    assert status == 200
    return body["value"]


async def test_an_approver_approves_and_exactly_the_plan_is_applied(approvals_bot, connector, sim):
    bot = approvals_bot
    before = copy.deepcopy(sim.tenant.policy)
    await use_channel(bot, connector)
    request_id, status_card = await request_change(bot, connector)
    assert "Your request: Waiting for approval" in text_of(status_card)
    assert "Join permission for 2 package accounts, asked by Adele Vance" in text_of(status_card)
    posted = connector.cards_in(CHANNEL)
    assert len(posted) == 1
    approval_card = posted[0][1]
    assert "2 package accounts will be allowed to join devices to Entra ID." in text_of(approval_card)
    assert "Room 101 PCs fail" in text_of(approval_card)
    assert approval_card["refresh"]["userIds"] == [f"29:{MEGAN}", f"29:{NESTOR}"]  # approvers only
    assert "approval.approve" not in text_of(approval_card)  # the base card is the status view

    # The refresh gives approvers the buttons and everyone else the status.
    assert "approval.approve" in text_of(await act(bot, connector, "approval.view", request_id, MEGAN))
    someone = await act(bot, connector, "approval.view", request_id, ALEX)
    assert "approval.approve" not in text_of(someone)
    assert "You are not an approver, so you see its status only. Who can approve: members of" in text_of(someone)

    answer = await act(bot, connector, "approval.approve", request_id, MEGAN)
    assert "Approved by Megan Bowen" in text_of(answer)
    await bot.idle()

    expected = copy.deepcopy(before)
    expected["azureADJoin"]["allowedToJoin"]["users"] += UNCOVERED
    assert sim.tenant.policy == expected  # every other field exactly as it was
    assert len(puts(sim)) == 1
    final_channel_card = connector.cards_in(CHANNEL, "update")[-1][1]
    assert "applied and verified" in text_of(final_channel_card)
    # The requester's chat is a record: the diagnosis card is still the diagnosis, the request card says Applied
    # and what to do on the device, and the news is a short reply to it whose first line says it.
    assert "step 2 of 3" in text_of(connector.latest("requester-card-1"))
    ((card_id, request_card),) = request_copies(connector, PERSONAL, request_id)
    assert "Your request: Applied" in text_of(request_card)
    assert "Next: apply the package on one device now; if it still fails, paste the new error" in text_of(request_card)
    assert "Graph request id" not in text_of(request_card).split('"Details"')[0]  # ids only behind Details
    ((replied_to, news),) = connector.news_in(PERSONAL)
    assert replied_to == card_id
    assert news.splitlines()[0] == "Applied: Join permission for 2 package accounts, asked by Adele Vance."


async def test_non_approver_and_requester_are_refused(approvals_bot, connector, sim, bot_factory):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    refused = await act(bot, connector, "approval.approve", request_id, ALEX)
    assert "Only members of the approvers group can approve" in text_of(refused)
    assert "Who can approve: members of Enrollment approvers" in text_of(refused)
    # The requester is an approver too here, but may not approve their own request.
    sim.tenant.groups[APPROVERS_GROUP]["members"].append(REQUESTER)
    own = await act(bot, connector, "approval.approve", request_id, REQUESTER)
    assert "You asked for this change, so someone else must approve it." in text_of(own)
    assert "Who can approve: members of Enrollment approvers" in text_of(own)
    await bot.idle()
    assert puts(sim) == []


async def test_two_approvers_at_once_give_one_write(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    answers = await asyncio.gather(
        act(bot, connector, "approval.approve", request_id, MEGAN),
        act(bot, connector, "approval.approve", request_id, NESTOR),
        act(bot, connector, "approval.approve", request_id, MEGAN),
    )
    await bot.idle()
    assert len(puts(sim)) == 1
    texts = [text_of(a) for a in answers]
    assert sum("Someone acted first" in t or "Already approved" in t for t in texts) == 2


async def test_the_click_is_answered_while_the_write_is_in_flight(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    held = Fault(route="policy.put", arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(held)
    answer = await act(bot, connector, "approval.approve", request_id, MEGAN)
    # The invoke response is back while the PUT is held at the simulator: it was not waited for.
    assert "Applying the change now" in text_of(answer)
    await asyncio.wait_for(held.arrived.wait(), 10)
    assert puts(sim) == []
    held.gate.set()
    await bot.idle()
    assert [r["status"] for r in puts(sim)] == [200]


async def test_an_expired_request_cannot_be_approved(approvals_bot, connector, sim, clock):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    clock.advance(hours=24, seconds=1)
    answer = await act(bot, connector, "approval.approve", request_id, MEGAN)
    assert "This request expired before anyone approved it" in text_of(answer)
    assert "To ask again, run the diagnosis" in text_of(answer)
    await bot.idle()
    assert puts(sim) == []
    assert "Tenant change not approved in time" in text_of(connector.cards_in(CHANNEL, "update")[-1][1])


async def test_a_stale_plan_writes_nothing_and_offers_to_replan(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    # Someone changes the join setting in the portal between the request and the approval.
    sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"].append("8a1f6c2e-0b3d-4e5f-9a10-2b3c4d5e6f05")
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert puts(sim) == []
    stale_card = connector.cards_in(CHANNEL, "update")[-1][1]
    assert "Tenant change not applied: the policy changed" in text_of(stale_card)
    assert "approval.replan" in text_of(stale_card)
    assert "Selected (3 users, 1 group)" in text_of(stale_card)
    replanned = await act(bot, connector, "approval.replan", request_id, MEGAN)
    assert "Re-planned" in text_of(replanned)
    assert len(connector.cards_in(CHANNEL)) == 2  # the new request was posted


async def test_already_satisfied_writes_nothing(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"] += UNCOVERED
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert puts(sim) == []
    assert "nothing had to be written" in text_of(connector.cards_in(CHANNEL, "update")[-1][1])


async def test_429_on_the_write_is_retried(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    sim.tenant.faults.append(Fault(route="policy.put", status=429, retry_after=1, times=1))
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert [r["status"] for r in puts(sim)] == [429, 200]
    assert "applied and verified" in text_of(connector.cards_in(CHANNEL, "update")[-1][1])


async def test_503_until_failure_then_retry_succeeds(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    sim.tenant.faults.append(Fault(route="policy.put", status=503, retry_after=1, times=3))
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert [r["status"] for r in puts(sim)] == [503, 503, 503]
    failed = await act(bot, connector, "approval.view", request_id, MEGAN)
    assert "Tenant change failed to apply" in text_of(failed) and "approval.retry" in text_of(failed)
    await act(bot, connector, "approval.retry", request_id, MEGAN)
    await bot.idle()
    assert [r["status"] for r in puts(sim)] == [503, 503, 503, 200]
    assert "applied and verified" in text_of(connector.cards_in(CHANNEL, "update")[-1][1])


async def test_403_on_the_write_names_the_permission(approvals_bot, connector, sim):
    bot = approvals_bot
    # Consented to read the policy but not to write it (tokens carry the roles granted when issued).
    app = next(iter(sim.tenant.apps.values()))
    app.permissions = ("Policy.Read.DeviceConfiguration", "User.Read.All", "GroupMember.Read.All")
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert "Policy.ReadWrite.DeviceConfiguration" in text_of(connector.cards_in(CHANNEL, "update")[-1][1])


async def test_a_restart_between_approved_and_applied_applies_once(bot_factory, connector, sim, clock):
    connector.members = []
    first = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    await use_channel(first, connector)
    request_id, _ = await request_change(first, connector)
    reading = Fault(route="policy.get", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(reading)
    await act(first, connector, "approval.approve", request_id, MEGAN)
    await asyncio.wait_for(reading.arrived.wait(), 10)  # the apply task is now reading the policy
    await first.stop()  # the bot goes down before it wrote anything
    reading.gate.set()
    assert puts(sim) == []
    early = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    await early.idle()  # just after: it might still be applying elsewhere (another replica), so it waits
    assert puts(sim) == []
    await early.stop()
    clock.advance(minutes=10)  # longer than any Graph try could take: the apply lost its process
    second = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    await second.idle()  # start-up resumes the approved request
    assert [r["status"] for r in puts(sim)] == [200]
    assert set(UNCOVERED) <= set(sim.tenant.policy["azureADJoin"]["allowedToJoin"]["users"])
    again = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    await again.idle()
    assert len(puts(sim)) == 1  # and a further restart does not write again


async def test_forged_invokes_change_nothing(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    cases = [
        card_action(connector.url, "approval.approve", {"requestId": "nope"}, conversation_type="channel", user=MEGAN),
        # the right request, from a conversation where it is not acted on
        card_action(connector.url, "approval.approve", {"requestId": request_id}, user=MEGAN),
        # a verb that does not fit here: cancelling belongs to the requester's chat
        card_action(
            connector.url, "approval.cancel", {"requestId": request_id}, conversation_type="channel", user=MEGAN
        ),
        card_action(
            connector.url, "approval.approve", {"request": request_id}, conversation_type="channel", user=MEGAN
        ),
    ]
    for activity in cases:
        status, body = await bot.post(activity)
        assert status == 200 and "This card is out of date" in text_of(body["value"])
    status, _ = await bot.post(
        card_action(
            connector.url,
            "approval.approve",
            {"requestId": request_id},
            conversation_type="channel",
            user=MEGAN,
            tenant="00000000-dead-beef-0000-000000000000",
        )
    )
    assert status == 403
    await bot.idle()
    assert puts(sim) == []


async def test_same_plan_twice_gives_the_pending_request(approvals_bot, connector):
    bot = approvals_bot
    await use_channel(bot, connector)
    first, _ = await request_change(bot, connector)
    second, card = await request_change(bot, connector)
    assert first == second
    assert "You already asked for exactly this change" in text_of(connector.latest("requester-card-1"))
    assert len(connector.cards_in(CHANNEL)) == 1


async def test_without_a_channel_the_request_waits_then_is_posted(approvals_bot, connector):
    bot = approvals_bot
    await request_change(bot, connector)
    card = connector.latest("requester-card-1")
    assert "No admins' channel is set up for approvals yet" in text_of(card)
    assert "use this channel for approvals" in text_of(card)
    assert connector.cards_in(CHANNEL) == []
    await use_channel(bot, connector, user=ALEX)  # not an approver: refused
    assert connector.cards_in(CHANNEL) == []
    await use_channel(bot, connector)
    assert len(connector.cards_in(CHANNEL)) == 1


async def test_reject_needs_a_reason_and_tells_the_requester(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    assert "Say why you reject it" in text_of(await act(bot, connector, "approval.reject", request_id, MEGAN))
    answer = await act(bot, connector, "approval.reject", request_id, MEGAN, reason="Use a group instead")
    assert "Rejected by Megan Bowen: Use a group instead" in text_of(answer)
    await bot.idle()
    assert any("Use a group instead" in t for t in connector.texts_in(PERSONAL))
    assert puts(sim) == []


async def test_the_requester_can_cancel(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    answer = await act(bot, connector, "approval.cancel", request_id, REQUESTER)
    assert "Your request: Cancelled" in text_of(answer)
    again = await act(bot, connector, "approval.approve", request_id, MEGAN)
    assert "That press changed nothing. It was cancelled" in text_of(again)
    assert "approval.approve" not in text_of(again)
    await bot.idle()
    assert puts(sim) == []


async def test_audit_in_the_channel_and_on_the_command_line(approvals_bot, connector, sim, tmp_path):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    await bot.post(message(connector.url, "audit", conversation_type="channel", user=MEGAN, mention=True))
    audit_card = connector.cards_in(CHANNEL)[-1][1]
    for action in ("created", "approve", "start apply", "applied"):
        assert action in text_of(audit_card)
    await bot.post(message(connector.url, "audit", conversation_type="channel", user=ALEX, mention=True))
    assert connector.cards_in(CHANNEL)[-1][1] == audit_card  # a non-approver gets no card

    # Only DATABASE_URL: reading the audit log needs no Graph or Bot Framework credentials.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "Microsoft"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'bot.db'}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        "audit",
        "--since",
        "2026-01-01",
        "--json",
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    applied = next(entry for entry in lines if entry["action"] == "applied")
    assert applied["requestId"] == request_id
    assert applied["policyAfter"]["azureADJoin"]["allowedToJoin"]["users"][-2:] == UNCOVERED
    assert applied["policyBefore"]["azureADJoin"]["allowedToJoin"]["users"] == [MEGAN, NESTOR]
    assert applied["graphRequestId"]
    assert [e["action"] for e in lines][:2] == ["approval_channel_set", "created"]


async def test_a_request_from_a_channel_thread_is_followed_there(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    helpdesk = "19:helpdesk@thread.tacv2"
    ask = message(connector.url, "bulk enrollment failed", conversation_type="channel", mention=True)
    ask["conversation"]["id"] = f"{helpdesk};messageid=7"
    await bot.post(ask)
    card = connector.cards_in(helpdesk)[-1][1]
    session_id = next(a["data"]["sessionId"] for a in card["actions"] if "sessionId" in a["data"])
    request = card_action(connector.url, "approval.request", {"sessionId": session_id}, reply_to="thread-card")
    request["conversation"] = ask["conversation"]
    status, body = await bot.post(request)
    await bot.idle()
    request_id, _, _ = latest_request_card(connector, helpdesk)
    thread_posts = [c for c in connector.calls if c.method == "send" and c.conversation_id == f"{helpdesk};messageid=7"]
    assert any(request_id in str(c.activity) for c in thread_posts)  # the request card went into the thread
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    ((_, card),) = request_copies(connector, helpdesk, request_id)
    assert "Your request: Applied" in text_of(card)


async def test_two_replicas_starting_the_same_apply_write_once(bot_factory, connector, sim, clock):
    """Entering APPLYING is compare-and-set: of two replicas that both see APPROVED, only one writes."""
    from app import DEPS
    from bot.domain.approval import Action, Actor, Transition, decide
    from bot.storage import AuditEntry

    connector.members = []
    first = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)
    second = await bot_factory(APPROVER_GROUP_ID=APPROVERS_GROUP)  # same database
    await use_channel(first, connector)
    request_id, _ = await request_change(first, connector)
    storage = first.app[DEPS].storage
    approved = decide(await storage.get_approval(request_id), Action.APPROVE, Actor(MEGAN, "Megan", True), clock.now())
    assert isinstance(approved, Transition)
    # Approved in the store, with no replica applying it yet (as when its approver's replica went down).
    assert await storage.apply_transition(approved, AuditEntry(clock.now(), "approved", request_id), clock.now())
    sim.simulator.requests.clear()
    await asyncio.gather(first.app[DEPS].approvals.apply(request_id), second.app[DEPS].approvals.apply(request_id))
    await first.idle()
    await second.idle()
    # One replica applied: one read, one write, one read-back. (A second applier is usually saved from a
    # second write by its own re-read, which is why the policy reads are counted too.)
    assert [r["route"] for r in sim.simulator.requests if r["route"].startswith("policy.")] == [
        "policy.get",
        "policy.put",
        "policy.get",
    ]
    assert (await storage.get_approval(request_id)).state.value == "applied"


async def test_a_write_graph_accepts_but_does_not_keep_is_not_called_applied(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    before = copy.deepcopy(sim.tenant.policy)
    sim.tenant.faults.append(Fault(route="policy.put", lose_write=True, times=1))
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert [r["status"] for r in puts(sim)] == [200]  # Graph said yes ...
    assert sim.tenant.policy == before  # ... and kept nothing
    card = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "failed to apply" in card and "reading the policy back does not show it" in card
    assert "applied and verified" not in card


def mfa_to_join_policy() -> dict[str, Any]:
    return {
        "id": "7c000000-0000-4000-8000-0000000000ca",
        "displayName": "MFA to register devices",
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["all"],
            "platforms": {"includePlatforms": ["all"], "excludePlatforms": []},
            "applications": {
                "includeApplications": [],
                "excludeApplications": [],
                "includeUserActions": ["urn:user:registerdevice"],
            },
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": [MEGAN],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
            },
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }


async def request_exclusion(bot, connector, sim) -> dict[str, Any]:
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    card = connector.cards()[-1]
    session_id = next(a["data"]["sessionId"] for a in card["actions"] if "sessionId" in a["data"])
    status, body = await bot.post(
        card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": "join"})
    )
    join_card = body["value"]
    (button,) = [a for a in actions_in(join_card) if a["data"].get("option", "").startswith("ca:")]
    assert "exclude from 'MFA to register devices'" in button["title"]
    status, body = await bot.post(
        card_action(connector.url, "approval.request", {**button["data"], "justification": "lab"}, reply_to="r-1")
    )
    assert status == 200
    return body["value"]


def ca_writes(sim) -> list[dict[str, Any]]:
    return [r for r in sim.simulator.requests if r["route"] == "conditionalAccess.patch"]


async def test_a_conditional_access_exclusion_is_approved_and_applied_exactly(approvals_bot, connector, sim):
    bot = approvals_bot
    sim.tenant.extra["conditionalAccessPolicies"].append(mfa_to_join_policy())
    next(iter(sim.tenant.apps.values())).permissions += ("Policy.ReadWrite.ConditionalAccess",)
    before = copy.deepcopy(sim.tenant.extra["conditionalAccessPolicies"][-1])
    await use_channel(bot, connector)
    await request_exclusion(bot, connector, sim)
    request_id, _, _ = latest_request_card(connector, PERSONAL)
    approval_card = connector.cards_in(CHANNEL)[-1][1]
    words = text_of(approval_card)
    assert "Change: a Conditional Access policy" in words
    assert "will be excluded from the Conditional Access policy 'MFA to register devices'" in words
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert len(ca_writes(sim)) == 1
    after = sim.tenant.extra["conditionalAccessPolicies"][-1]
    excluded = after["conditions"]["users"]["excludeUsers"]
    assert excluded[0] == MEGAN and set(excluded[1:]) == set(UNCOVERED) | {"c0a80001-5a1e-4b7c-8d9e-000000000103"}
    # every other part of the policy exactly as it was
    for key in ("displayName", "state", "grantControls"):
        assert after[key] == before[key]
    assert {k: v for k, v in after["conditions"].items() if k != "users"} == {
        k: v for k, v in before["conditions"].items() if k != "users"
    }
    assert "applied and verified: the package accounts are now excluded" in text_of(
        connector.cards_in(CHANNEL, "update")[-1][1]
    )
    # approving again writes nothing more
    await act(bot, connector, "approval.approve", request_id, NESTOR)
    await bot.idle()
    assert len(ca_writes(sim)) == 1


async def test_without_the_conditional_access_write_permission_the_portal_steps_are_given(
    approvals_bot, connector, sim
):
    bot = approvals_bot
    sim.tenant.extra["conditionalAccessPolicies"].append(mfa_to_join_policy())
    await use_channel(bot, connector)
    card = await request_exclusion(bot, connector, sim)
    words = text_of(card)
    assert "I am not allowed to make this change" in words
    assert "Policy.ReadWrite.ConditionalAccess" in words
    assert "'MFA to register devices' > Users > Exclude" in words
    assert connector.cards_in(CHANNEL) == [] or all(
        "Conditional Access" not in text_of(c) for _, c in connector.cards_in(CHANNEL)
    )
    assert ca_writes(sim) == []


def _exclude_nestor(policy: dict[str, Any]) -> None:
    policy["conditions"]["users"]["excludeUsers"].append(NESTOR)


def _report_only(policy: dict[str, Any]) -> None:
    policy["state"] = "enabledForReportingButNotEnforced"


def _off(policy: dict[str, Any]) -> None:
    policy["state"] = "disabled"


@pytest.mark.parametrize(
    "change", [_exclude_nestor, _report_only, _off], ids=["who it covers", "report-only", "disabled"]
)
async def test_a_conditional_access_plan_goes_stale_when_the_policy_changes_first(
    approvals_bot, connector, sim, change
):
    """Every condition the exclusion rests on: who the policy covers, and that it is enforced at all (a policy
    switched to report-only or off needs no exclusion, and who it covers is then unchanged)."""
    bot = approvals_bot
    sim.tenant.extra["conditionalAccessPolicies"].append(mfa_to_join_policy())
    next(iter(sim.tenant.apps.values())).permissions += ("Policy.ReadWrite.ConditionalAccess",)
    await use_channel(bot, connector)
    await request_exclusion(bot, connector, sim)
    request_id, _, _ = latest_request_card(connector, PERSONAL)
    change(sim.tenant.extra["conditionalAccessPolicies"][-1])  # before it is approved
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert ca_writes(sim) == []
    words = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "whether it is enforced" in words and "was not applied. Nothing was written." in words


async def test_allowing_windows_in_an_enrollment_restriction_goes_through_approval(approvals_bot, connector, sim):
    bot = approvals_bot
    default = sim.tenant.extra["deviceEnrollmentConfigurations"][0]
    default["windowsRestriction"]["platformBlocked"] = True
    default["windowsRestriction"]["osMinimumVersion"] = "10.0.19045"
    app = next(iter(sim.tenant.apps.values()))
    app.permissions += ("DeviceManagementServiceConfig.ReadWrite.All",)
    await use_channel(bot, connector)
    request_id = await request_allow_windows(bot, connector)
    assert "Windows (MDM) enrollment will be allowed" in text_of(connector.cards_in(CHANNEL)[-1][1])
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    writes = [r for r in sim.simulator.requests if r["route"] == "enrollmentConfigurations.patch"]
    assert len(writes) == 1
    assert default["windowsRestriction"] == {
        "platformBlocked": False,
        "personalDeviceEnrollmentBlocked": False,
        "osMinimumVersion": "10.0.19045",  # kept
        "osMaximumVersion": None,
    }
    assert "now allows Windows (MDM) enrollment" in text_of(connector.cards_in(CHANNEL, "update")[-1][1])


async def test_nothing_to_approve_says_what_became_of_the_request_and_offers_check_again(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    session_id = next(a["data"]["sessionId"] for a in connector.cards()[-1]["actions"] if "sessionId" in a["data"])
    status, body = await bot.post(card_action(connector.url, "approval.request", {"sessionId": session_id}))
    await bot.idle()
    request_id, _, _ = latest_request_card(connector, PERSONAL)
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()

    # The requester presses "Request approval" on the old card again: the fix is already in.
    status, body = await bot.post(card_action(connector.url, "approval.request", {"sessionId": session_id}))
    card = body["value"]
    assert "Nothing to approve" in text_of(card)
    assert "is **Applied** by Megan Bowen" in text_of(card)
    verbs = {a["verb"]: a["data"] for a in actions_in(card)}
    assert verbs["approval.view"] == {"requestId": request_id}
    assert verbs["diagnosis.recheck"] == {"sessionId": session_id}
    # "See request" from the requester's own chat shows their status card; "Check again" reads the tenant.
    status, body = await bot.post(card_action(connector.url, "approval.view", {"requestId": request_id}))
    assert status == 200 and "Your request: Applied" in text_of(body["value"])
    status, body = await bot.post(card_action(connector.url, "diagnosis.recheck", {"sessionId": session_id}))
    assert status == 200 and "Join permission looks right" in text_of(body["value"])
    # Someone else's chat cannot look at it.
    status, body = await bot.post(
        card_action(connector.url, "approval.view", {"requestId": request_id}, conversation_type="groupChat")
    )
    assert "Your request" not in text_of(body["value"])


async def request_allow_windows(bot, connector) -> str:
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    session_id = next(a["data"]["sessionId"] for a in connector.cards()[-1]["actions"] if "sessionId" in a["data"])
    _, body = await bot.post(card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": "join"}))
    (button,) = [a for a in actions_in(body["value"]) if a["data"].get("option", "").startswith("restriction:")]
    assert "allow Windows in 'All users and all devices'" in button["title"]
    _, body = await bot.post(card_action(connector.url, "approval.request", button["data"], reply_to="r-3"))
    await bot.idle()
    return latest_request_card(connector, PERSONAL)[0]


async def test_a_restriction_changed_between_request_and_approval_makes_the_request_stale(
    approvals_bot, connector, sim
):
    bot = approvals_bot
    default = sim.tenant.extra["deviceEnrollmentConfigurations"][0]
    default["windowsRestriction"]["platformBlocked"] = True
    next(iter(sim.tenant.apps.values())).permissions += ("DeviceManagementServiceConfig.ReadWrite.All",)
    await use_channel(bot, connector)
    request_id = await request_allow_windows(bot, connector)
    # Someone narrows the versions Windows may enroll with, still blocked, before the approval.
    default["windowsRestriction"]["osMinimumVersion"] = "10.0.22621"
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    assert [r for r in sim.simulator.requests if r["route"] == "enrollmentConfigurations.patch"] == []
    assert default["windowsRestriction"]["platformBlocked"] is True
    words = text_of(connector.cards_in(CHANNEL, "update")[-1][1])
    assert "'All users and all devices' changed after this plan was made" in words and "Nothing was written" in words


@pytest.mark.parametrize("state", ["enabledForReportingButNotEnforced", "disabled"])
async def test_no_exclusion_is_offered_for_a_report_only_or_disabled_policy(approvals_bot, connector, sim, state):
    bot = approvals_bot
    policy = mfa_to_join_policy()
    policy["state"] = state
    sim.tenant.extra["conditionalAccessPolicies"].append(policy)
    upn = "package_3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d@contoso.onmicrosoft.com"
    # Its sign-ins name it (report-only failures are logged), still it enforces nothing.
    sim.tenant.extra["signIns"] = [
        {
            "id": "s-report-only",
            "createdDateTime": "2026-11-26T11:00:00Z",
            "userPrincipalName": upn,
            "userId": UNCOVERED[0],
            "status": {"errorCode": 0},
            "appliedConditionalAccessPolicies": [
                {"id": policy["id"], "displayName": policy["displayName"], "result": "reportOnlyFailure"}
            ],
        }
    ]
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    session_id = next(a["data"]["sessionId"] for a in connector.cards()[-1]["actions"] if "sessionId" in a["data"])
    _, body = await bot.post(card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": "join"}))
    assert not [a for a in actions_in(body["value"]) if a["data"].get("option", "").startswith("ca:")]
    assert "MFA to register devices" not in text_of(body["value"])
    # A forged request for the option is refused: the plan is made from the tenant as read, and there is none.
    _, body = await bot.post(
        card_action(
            connector.url,
            "approval.request",
            {"sessionId": session_id, "option": f"ca:{policy['id']}"},
            reply_to="r-4",
        )
    )
    assert ca_writes(sim) == []
    assert not [a for a in actions_in(body["value"]) if a.get("verb") == "approval.approve"]


async def test_status_lists_the_requests_and_its_card_follows_the_request(approvals_bot, connector, sim):
    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    await bot.post(message(connector.url, "status"))
    summary = [t for t in connector.texts_in(PERSONAL) if t][-1]
    assert "- Waiting for approval: Join permission for 2 package accounts, asked by Adele Vance" in summary
    assert request_id[:8] not in summary
    assert len(request_copies(connector, PERSONAL, request_id)) == 2
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    # Every copy in the chat, the status answer's too, now says Applied: none is left behind in an older state.
    assert [
        text_of(c).count("Your request: Applied") > 0 for _, c in request_copies(connector, PERSONAL, request_id)
    ] == [
        True,
        True,
    ]


async def test_a_request_made_before_copies_were_stored_still_updates_its_two_cards(
    approvals_bot, connector, sim, tmp_path
):
    """A database from the release before copies: a pending request knows only its two card columns."""
    import sqlite3

    bot = approvals_bot
    await use_channel(bot, connector)
    request_id, _ = await request_change(bot, connector)
    with sqlite3.connect(tmp_path / "bot.db") as db:
        db.execute("DELETE FROM approval_copies")
    await act(bot, connector, "approval.approve", request_id, MEGAN)
    await bot.idle()
    ((_, channel_card),) = request_copies(connector, CHANNEL, request_id)
    ((_, request_card),) = request_copies(connector, PERSONAL, request_id)
    assert "Tenant change applied" in text_of(channel_card) and "Your request: Applied" in text_of(request_card)
