"""The diagnostic flow over real HTTP: bot <-> recording connector, bot <-> simulated tenant (HTTPS)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from sim.tenant import Fault
from tests.support.activities import card_action, message
from tests.support.cards import text_of as card_text
from tests.support.phone import render_on_a_phone

ENUMERATED = "#microsoft.graph.enumeratedDeviceRegistrationMembership"
APPROVERS = "d1e2f3a4-0000-4000-8000-00000000a001"
JOINERS = "d1e2f3a4-0000-4000-8000-00000000a002"
PKG_UNCOVERED = "package_3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d"
PKG_NESTED = "package_c4d95b10-2e3f-4a5b-9c6d-7e8f9a0b1c2d"
PKG_DISABLED = "package_e7f01d33-6b5a-4c9d-8e7f-6a5b4c3d2e1f"


def facts_of(card: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "FactSet":
                for fact in node["facts"]:
                    found[fact["title"]] = fact["value"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


def actions_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    return card.get("actions", [])


def session_id_of(card: dict[str, Any]) -> str:
    return next(a["data"]["sessionId"] for a in actions_of(card) if "sessionId" in a.get("data", {}))


async def start(bot, connector, text="A setup failure has occurred during bulk enrollment.", **kw):
    status, _ = await bot.post(message(connector.url, text, **kw))
    assert status == 201
    cards = connector.cards()
    assert cards, "the bot sent no card"
    return cards[-1]


async def step(bot, connector, session_id: str, name: str) -> dict[str, Any]:
    status, body = await bot.post(card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": name}))
    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    return body["value"]


async def test_the_pasted_error_is_answered_before_any_graph_read_then_the_card_becomes_step_1(bot, connector, sim):
    held = Fault(route="policy.get", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(held)
    text = "ppkg on LAB-PC-7 failed: A setup failure has occurred during bulk enrollment. 0x801c0003"
    status, _ = await bot.post(message(connector.url, text), settle=False)
    assert status == 201  # the turn is over while Graph has not answered
    (first,) = connector.cards()
    assert first["fallbackText"].startswith("Checking your tenant")
    facts = facts_of(first)
    assert facts["0x801c0003"] == "the account is not authorized to join devices to Entra ID"
    assert facts["Device"] == "LAB-PC-7"
    await asyncio.wait_for(held.arrived.wait(), 10)
    assert [c.method for c in connector.calls] == ["send"]
    held.gate.set()
    await bot.idle()
    (card,) = connector.cards()  # the same card, updated in place
    assert [c.method for c in connector.calls] == ["send", "update"]
    assert connector.calls[1].activity_id == connector.calls[0].sent_id
    facts = facts_of(card)
    assert facts["Users may join devices to Microsoft Entra ID"] == "Selected (2 users, 1 group)"
    assert facts["Selected users"] == "Megan Bowen, Nestor Wilke"
    assert facts["Selected groups"] == "Device joiners"
    assert facts["Require MFA to register or join devices"] == "No"
    assert "2 package accounts may not join devices" in card_text(card)
    assert card["version"] == "1.5" and card["fallbackText"]
    routes = [r["route"] for r in sim.simulator.requests]
    assert "policy.get" in routes and "users.list" in routes


async def test_walks_all_three_steps_with_what_it_found(bot, connector, sim):
    card = await start(bot, connector)
    session_id = session_id_of(card)
    join = await step(bot, connector, session_id, "join")
    text = card_text(join)
    # Short names on the card (package_3f2a…5c6d), the full ones behind "Show all".
    assert "package_3f2a\u20265c6d: \u26d4 may not join" in text
    assert "package_c4d9\u20261c2d: \u2705 may join (through group Device joiners)" in text
    assert "package_e7f0\u20262e1f: \u26d4 disabled" in text
    # One source of numbers: the summary, the lines, the findings and the fix say the same counts.
    assert "**4** package accounts: **1** may join devices, **2** may not, **1** disabled." in text
    lines = [
        e["text"] for e in join["body"] if e.get("type") == "TextBlock" and "\u2026" in e["text"] and ": " in e["text"]
    ]
    assert [sum(f": {mark} {word}" in line for line in lines) for mark, word in
            (("\u2705", "may join"), ("\u26d4", "may not join"), ("\u26d4", "disabled"))] == [1, 2, 1]  # fmt: skip
    assert "1 package account is disabled" in text and "Add the 2 that may not join" in text
    assert "may not join devices**" not in text  # the summary says it; no second count of it below
    assert join["fallbackText"].startswith("Join permissions: 4 package accounts: 1 may join devices, 2 may not, 1 dis")
    hidden = next(e for e in join["body"] if e.get("id") == "all-accounts")
    assert hidden["isVisible"] is False
    assert f"{PKG_UNCOVERED}@contoso.onmicrosoft.com" in card_text(hidden)
    facts = facts_of(join)
    assert facts["Before"] == "Selected (2 users, 1 group)"
    assert facts["After"] == "Selected (4 users, 1 group)"
    assert "2 package accounts will be allowed to join devices to Entra ID." in text
    primary, alternative = actions_of(join)[:2]
    assert primary["verb"] == "approval.request" and primary["style"] == "positive"
    assert alternative["type"] == "Action.ShowCard"  # "All" only behind its consequence
    assert alternative["card"]["actions"][0]["data"]["option"] == "all"
    verify = await step(bot, connector, session_id, "verify")
    assert "Not fixed yet" in card_text(verify)
    assert "Not allowed to join or enroll: The user is not authorized to join devices" in card_text(verify)
    assert "Check again" in [a["title"] for a in actions_of(verify)]


async def test_check_again_sees_a_fix_made_in_the_tenant(bot, connector, sim):
    card = await start(bot, connector)
    session_id = session_id_of(card)
    sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"
    }
    status, body = await bot.post(card_action(connector.url, "diagnosis.recheck", {"sessionId": session_id}))
    assert status == 200
    text = card_text(body["value"])
    assert "Join permission looks right" in text
    assert "is **All**" in text


async def test_join_none_proposes_selected_with_the_package_accounts(bot, connector, sim):
    sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"
    }
    card = await start(bot, connector)
    assert facts_of(card)["Users may join devices to Microsoft Entra ID"] == "None"
    assert "Nobody may join devices" in card_text(card)
    join = await step(bot, connector, session_id_of(card), "join")
    facts = facts_of(join)
    assert facts["Before"] == "None"
    assert facts["After"] == "Selected (3 users, 0 groups)"  # the three enabled package accounts, not the disabled one


async def test_join_all_has_no_fix_to_propose(bot, connector, sim):
    sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"
    }
    card = await start(bot, connector)
    assert facts_of(card)["Users may join devices to Microsoft Entra ID"] == "All"
    join = await step(bot, connector, session_id_of(card), "join")
    assert "approval.request" not in [a["verb"] for a in actions_of(join)]
    assert "The join setting is All" in card_text(join)


async def test_mfa_required_and_missing_mentioned_package_are_reported(bot, connector, sim):
    sim.tenant.policy["multiFactorAuthConfiguration"] = "required"
    text = "ppkg fails on DESKTOP-7H2K9 with 0x801c0003 for package_0badc0de-0000-4000-8000-000000000000"
    card = await start(bot, connector, text)
    content = card_text(card)
    assert "MFA is required to join devices" in content
    assert "package_0bad\u20260000 is not in this tenant" in content  # named short, as everywhere
    assert "0badc0de-0000-4000-8000" not in content
    facts = facts_of(card)
    assert facts["0x801c0003"] == "the account is not authorized to join devices to Entra ID"
    assert facts["Device"] == "DESKTOP-7H2K9"


async def test_150_package_accounts_are_paged_and_batched(bot, connector, sim):
    sim.tenant.extra["maxPageSize"] = 100  # the server answers $top=999 with pages of 100
    for i in range(150):
        uid = f"aaaaaaaa-0000-4000-8000-{i:012d}"
        sim.tenant.users[uid] = {
            "id": uid,
            "displayName": f"package_{uid}",
            "userPrincipalName": f"package_{uid}@contoso.onmicrosoft.com",
            "accountEnabled": True,
            "createdDateTime": "2026-11-01T00:00:00Z",
        }
    card = await start(bot, connector)
    assert "152 package accounts may not join devices" in card_text(card)
    assert len([r for r in sim.simulator.requests if r["route"] == "users.list"]) == 2  # followed @odata.nextLink
    top_level = [r for r in sim.simulator.requests if not r.get("batch") and r["route"] != "token"]
    # Coverage comes from the Selected group's members, not from a check per account: the round trips do not
    # grow with the accounts (the policy, two pages of accounts, one $batch of group listings, one of names,
    # and one read each for Conditional Access, the enrollment restrictions and sign-ins; the MDM user scope is
    # not asked for: Graph serves it to signed-in users only).
    assert [r for r in sim.simulator.requests if r["route"] == "users.checkMemberGroups"] == []
    listings = [r for r in sim.simulator.requests if r["route"] == "groups.transitiveMembers"]
    assert len(listings) == len(sim.tenant.policy["azureADJoin"]["allowedToJoin"]["groups"])
    assert all(r["batch"] for r in listings)
    assert sorted(r["route"] for r in top_level) == [
        "batch",
        "batch",
        "conditionalAccess.list",
        "enrollmentConfigurations.list",
        "policy.get",
        "signIns.list",
        "users.list",
        "users.list",
    ]


async def test_graph_403_names_the_missing_permission(bot, connector, sim):
    app = next(iter(sim.tenant.apps.values()))
    app.permissions = tuple(p for p in app.permissions if p != "Policy.ReadWrite.DeviceConfiguration")
    card = await start(bot, connector)
    text = card_text(card)
    assert "The app lacks a Microsoft Graph permission" in text
    assert "Policy.Read.DeviceConfiguration" in text
    assert "Grant admin consent" in text
    assert "Correlation id" in text


async def test_graph_429_is_retried_after_retry_after_then_succeeds(bot, connector, sim):
    async with aiohttp.ClientSession() as session:
        await session.post(
            f"{sim.url}/_sim/faults",
            json={"route": "policy.get", "status": 429, "retryAfter": 1, "times": 1},
            ssl=False,
        )
    card = await start(bot, connector)
    assert facts_of(card)["Users may join devices to Microsoft Entra ID"] == "Selected (2 users, 1 group)"
    statuses = [r["status"] for r in sim.simulator.requests if r["route"] == "policy.get"]
    assert statuses == [429, 200]


async def test_graph_inner_batch_429_is_retried(bot, connector, sim, clock):
    sim.tenant.faults.append(
        __import__("sim.tenant", fromlist=["Fault"]).Fault(
            route="groups.transitiveMembers", status=429, retry_after=2, times=2
        )
    )
    card = await start(bot, connector)
    assert "2 package accounts may not join devices" in card_text(card)
    assert 2.0 in clock.slept  # waited as the inner response's Retry-After asked (on the injected clock)


async def test_graph_503_throughout_explains_and_changes_nothing(bot, connector, sim):
    before = json.dumps(sim.tenant.policy, sort_keys=True)
    async with aiohttp.ClientSession() as session:
        await session.post(
            f"{sim.url}/_sim/faults", json={"route": "policy.get", "status": 503, "retryAfter": 1}, ssl=False
        )
    card = await start(bot, connector)
    assert "Microsoft Graph is unavailable" in card_text(card)
    assert len([r for r in sim.simulator.requests if r["route"] == "policy.get"]) == 3  # first try + 2 retries
    assert json.dumps(sim.tenant.policy, sort_keys=True) == before


async def test_wrong_graph_secret_is_explained(bot_factory, connector):
    bot = await bot_factory(GRAPH_CLIENT_SECRET="wrong")
    card = await start(bot, connector)
    assert "I could not sign in to Microsoft Graph" in card_text(card)


async def test_channel_message_with_mention_is_recognised(bot, connector):
    card = await start(
        bot, connector, "bulk enrolment keeps failing on the lab PCs", conversation_type="channel", mention=True
    )
    assert "Device settings" in card_text(card)


async def test_help_and_chatter(bot, connector):
    await bot.post(message(connector.url, "hello"))
    assert "I fix Windows bulk enrollment failures" in card_text(connector.cards()[-1])
    connector.clear()
    await bot.post(message(connector.url, "what's for lunch today?"))
    assert "did not recognise" in card_text(connector.cards()[-1])
    assert not [c for c in connector.sent if c["type"] == "typing"]


async def test_card_start_action_runs_a_new_diagnosis(bot, connector):
    status, body = await bot.post(card_action(connector.url, "diagnosis.start", {}))
    assert status == 200
    assert "Device settings" in card_text(body["value"])


async def test_forged_or_stale_card_actions_change_nothing(bot, connector, sim):
    card = await start(bot, connector)
    session_id = session_id_of(card)
    cases = [
        card_action(connector.url, "diagnosis.step", {"sessionId": "no-such-session", "step": "join"}),
        card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": "bogus"}),
        card_action(connector.url, "approval.nuke", {"sessionId": session_id}),
        card_action(connector.url, "diagnosis.step", "not an object"),  # type: ignore[arg-type]
        card_action(
            connector.url, "diagnosis.step", {"sessionId": session_id, "step": "join"}, conversation_type="groupChat"
        ),
    ]
    for activity in cases:
        status, body = await bot.post(activity)
        assert status == 200
        assert "This card is out of date" in card_text(body["value"]), activity["value"]
    assert not [r for r in sim.simulator.requests if r["method"] == "PUT"]


async def test_request_approval_says_approvals_are_not_set_up(bot, connector):
    card = await start(bot, connector)
    status, body = await bot.post(
        card_action(connector.url, "approval.request", {"sessionId": session_id_of(card), "justification": "room 101"})
    )
    assert status == 200
    assert "Approvals are not set up (no APPROVER_GROUP_ID or APPROVER_USER_IDS)" in card_text(body["value"])


async def test_the_flow_runs_on_postgresql_too(bot_factory, connector):
    import uuid

    import asyncpg

    from tests.unit.test_storage import POSTGRES_DSN

    schema = f"flow_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        bot = await bot_factory(DATABASE_URL=f"{POSTGRES_DSN}?search_path={schema}")
        card = await start(bot, connector)
        join = await step(bot, connector, session_id_of(card), "join")
        assert "2 package accounts will be allowed to join devices to Entra ID." in card_text(join)
        assert await admin.fetchval(f"SELECT step FROM {schema}.diagnosis_sessions") == "join"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def test_a_step_button_answers_with_checking_and_the_step_follows_in_place(bot, connector, sim):
    card = await start(bot, connector)
    session_id = session_id_of(card)
    held = Fault(route="policy.get", times=1, arrived=asyncio.Event(), gate=asyncio.Event())
    sim.tenant.faults.append(held)
    activity = card_action(connector.url, "diagnosis.step", {"sessionId": session_id, "step": "join"}, reply_to="c-9")
    status, body = await bot.post(activity, settle=False)
    assert status == 200
    checking = body["value"]
    assert checking["fallbackText"].startswith("Checking your tenant")
    # "Check again" redoes the same step, should the bot go down before it answers
    again = [a for a in actions_of(checking) if a["title"] == "Check again"]
    assert again and again[0]["data"] == {"sessionId": session_id, "step": "join"}
    await asyncio.wait_for(held.arrived.wait(), 10)
    assert connector.latest("c-9") is None
    held.gate.set()
    await bot.idle()
    assert "Join permissions" in card_text(connector.latest("c-9"))


async def test_a_failure_in_the_background_replaces_the_checking_card_with_the_error(bot, connector, sim):
    sim.tenant.faults.append(Fault(route="users.list", status=503))
    card = await start(bot, connector)
    assert "Microsoft Graph is unavailable" in card_text(card)
    assert [c.method for c in connector.calls] == ["send", "update"]


async def test_concurrent_first_graph_calls_fetch_one_token(sim, clock):
    from bot.demo import sim_graph_env
    from bot.graph import MsGraphGateway
    from bot.settings import load_settings

    settings = load_settings({**sim_graph_env(sim), "GRAPH_RETRY_DELAY": "0"}, dotenv=None)
    graph = MsGraphGateway(settings.graph, clock)
    try:
        await asyncio.gather(graph.get_policy(), graph.list_package_accounts(), graph.get_policy(), graph.ping())
    finally:
        await graph.close()
    assert len([r for r in sim.simulator.requests if r["route"] == "token"]) == 1


async def test_check_again_on_a_first_card_whose_answer_never_came_starts_with_the_same_clues(bot, connector, sim):
    # The bot went down right after the first card: the session may never have been stored. The card's own
    # "Check again" carries what was recognised, so nothing the person pasted is lost.
    sim.tenant.faults.append(Fault(route="policy.get", status=503))
    text = "bulk enrollment failed on LAB-PC-7 with 0x801c0003 for package_3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d"
    await bot.post(message(connector.url, text), settle=False)
    (checking,) = [c for c in connector.calls if c.method == "send"]
    card = checking.activity["attachments"][0]["content"]
    again = next(a for a in actions_of(card) if a["title"] == "Check again")
    assert again["verb"] == "diagnosis.start"
    await bot.idle()
    sim.tenant.faults.clear()
    status, body = await bot.post(card_action(connector.url, again["verb"], again["data"], reply_to="c-1"))
    facts = facts_of(body["value"])
    assert facts["0x801c0003"] == "the account is not authorized to join devices to Entra ID"
    assert facts["Device"] == "LAB-PC-7"
    assert facts["Package account"] == "package\\_3f2a\u20265c6d"  # shown short; the session has it whole


async def test_forged_clues_in_a_start_action_are_refused(bot, connector):
    for data in ({"errorCodes": ["0x80180014; drop"]}, {"deviceName": "x" * 500}, {"packageGuids": ["nope"]}):
        status, body = await bot.post(card_action(connector.url, "diagnosis.start", data))
        assert status == 200 and "out of date" in card_text(body["value"])


async def test_a_lookalike_is_answered_with_where_to_look_and_no_graph_read(bot, connector, sim):
    await bot.post(message(connector.url, "Autopilot fails on a new laptop with 0x80180022"))
    card = connector.cards()[-1]
    words = card_text(card)
    assert "That looks like a Windows Autopilot problem" in words
    assert "0x80180022" in words and "Windows Home" in words
    assert "learn.microsoft.com/autopilot/troubleshooting-faq" in json.dumps(card)
    assert sim.simulator.requests == []  # nothing was read from the tenant
    (action,) = actions_of(card)
    assert action["verb"] == "diagnosis.start" and action["data"]["errorCodes"] == ["0x80180022"]


async def test_an_enrollment_code_alone_gets_its_meaning_and_a_way_into_the_diagnosis(bot, connector, sim):
    await bot.post(message(connector.url, "getting 0x801c0003 on the new laptops"))
    card = connector.cards()[-1]
    assert "0x801c0003" in card_text(card) and "not authorized to join" in card_text(card)
    assert sim.simulator.requests == []
    status, body = await bot.post(card_action(connector.url, "diagnosis.start", actions_of(card)[0]["data"]))
    assert status == 200
    assert facts_of(body["value"])["0x801c0003"] == "the account is not authorized to join devices to Entra ID"


async def test_a_success_report_is_not_a_failure(bot, connector, sim):
    await bot.post(message(connector.url, "We used the bulk package last term without issues"))
    assert "Good to hear it works" in card_text(connector.cards()[-1])
    assert sim.simulator.requests == []


async def test_the_error_in_german_starts_the_diagnosis(bot, connector):
    card = await start(bot, connector, "Fehlermeldung beim Einrichten: Setupfehler bei der Massenregistrierung.")
    assert "Device settings" in card_text(card)


async def test_small_talk_gets_a_short_reply_and_a_near_question_a_did_you_mean(bot, connector, sim):
    await bot.post(message(connector.url, "thanks!"))
    assert connector.cards() == []
    (reply,) = connector.texts_in("a:personal-chat-1")
    assert reply.startswith("You're welcome.")
    await bot.post(message(connector.url, "what is bulk enrollment?"))
    card = connector.cards()[-1]
    assert "Did you mean a bulk enrollment problem?" in card_text(card)
    assert [a["verb"] for a in actions_of(card)] == ["diagnosis.start"]
    assert sim.simulator.requests == []


async def test_verify_while_nothing_is_fixed_leads_to_the_fix_then_to_the_request_made(bot_factory, connector, sim):
    bot = await bot_factory(APPROVER_GROUP_ID=APPROVERS)
    session_id = session_id_of(await start(bot, connector))
    verify = await step(bot, connector, session_id, "verify")
    text = card_text(verify)
    assert "Not fixed yet" in text and "Apply the provisioning package again" not in text  # it would fail again
    assert "The fix is on the join permissions step" in text
    first = actions_of(verify)[0]
    assert first["title"] == "Go to the fix: join permissions" and first["data"] == {
        "sessionId": session_id,
        "step": "join",
    }
    status, body = await bot.post(card_action(connector.url, "approval.request", {"sessionId": session_id}))
    assert status == 200
    await bot.idle()
    verify = await step(bot, connector, session_id, "verify")
    text = card_text(verify)
    assert "The request for this fix is **Waiting for approval** (you asked for it at" in text
    assert "Apply the provisioning package again" not in text
    assert [a["title"] for a in actions_of(verify)][:2] == ["See request", "Check again"]
    # Fixed in the tenant: now, and only now, the device is next.
    sim.tenant.policy["azureADJoin"]["allowedToJoin"] = {
        "@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"
    }
    sim.tenant.users["c0a80001-5a1e-4b7c-8d9e-000000000104"]["accountEnabled"] = True
    verify = await step(bot, connector, session_id, "verify")
    assert "Apply the provisioning package again on one device." in card_text(verify), card_text(verify)[:2000]


async def test_the_join_permissions_card_fits_a_phone_in_fewer_than_850_px(bot, connector):
    """Rendered alone at 360 px by Microsoft's renderer, as the e2e journey renders cards; it was 1111 px
    (4 package accounts, 2 inputs, 4 buttons)."""
    join = await step(bot, connector, session_id_of(await start(bot, connector)), "join")
    (measured,) = await asyncio.to_thread(render_on_a_phone, [join])
    assert measured["overflowing"] == []
    assert measured["height"] < 850, measured


async def test_why_right_after_a_card_is_answered_about_that_card(bot, connector):
    status, _ = await bot.post(message(connector.url, "why?"))
    assert status == 201
    assert "I did not recognise a bulk enrollment problem" in card_text(connector.cards()[-1])  # no card before
    step1 = await start(bot, connector)  # the checking card, become step 1 in place
    for question in ("why?", "Why is that"):  # and again: still about that card, not about the answer
        await bot.idle()
        status, _ = await bot.post(message(connector.url, question))
        assert status == 201
        answer = connector.cards()[-1]
        words = card_text(answer)
        assert "About my last card: Device settings" in words, words[:400]
        assert "It said: Device settings: Users may join devices to Microsoft Entra ID is Selected" in words
        assert "does not include that account" in words
        assert [a["title"] for a in answer["actions"]] == ["Next: join permissions"]
        assert answer["actions"][0]["data"] == step1["actions"][0]["data"]
    join = await step(bot, connector, session_id_of(step1), "join")  # a card action's answer is a card too
    assert "Join permissions" in card_text(join)
    await bot.idle()  # the note is written in the background, as the answer goes out (a person is slower)
    await bot.post(message(connector.url, "what does that mean?"))
    assert "About my last card: Join permissions" in card_text(connector.cards()[-1])
