"""Cards: valid Adaptive Cards 1.5 (checked by Microsoft's Adaptive Cards parser), verbs and payloads."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.domain.diagnosis import diagnose
from bot.domain.lookalikes import BY_KEY, for_code
from bot.domain.model import DirectoryNames, DirectoryUser, PolicySnapshot, TroubleshootingEvent
from bot.handlers import VERB_HANDLERS
from cards.diagnosis import (
    Clues,
    DiagnosisView,
    build_device_settings_card,
    build_did_you_mean_card,
    build_elsewhere_card,
    build_error_card,
    build_glad_card,
    build_help_card,
    build_join_permissions_card,
    build_not_understood_card,
    build_out_of_date_card,
    build_verify_card,
    build_welcome_card,
)
from cards.verbs import PAYLOADS, RequestApproval, ShowStep, Verb, action_data, parse_action
from sim.runner import DEFAULT_FIXTURE
from tests.support.cards import actions_in
from tests.support.cards import elements as _elements

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _views() -> list[DiagnosisView]:
    raw = json.loads(DEFAULT_FIXTURE.read_text())["deviceRegistrationPolicy"]
    accounts = [
        DirectoryUser(f"u{i}", f"package_{i:08d}-0000-4000-8000-000000000000@contoso.com", None, i % 7 != 0, NOW)
        for i in range(40)
    ]
    variants = []
    for allowed in (
        raw["azureADJoin"]["allowedToJoin"],
        {"@odata.type": "#microsoft.graph.noDeviceRegistrationMembership"},
        {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"},
    ):
        policy = json.loads(json.dumps(raw))
        policy["azureADJoin"]["allowedToJoin"] = allowed
        variants.append(
            diagnose(
                PolicySnapshot.from_graph(policy, "req-1"), accounts, {}, NOW, ["ffffffff-0000-4000-8000-000000000000"]
            )
        )
    event = TroubleshootingEvent("e1", NOW, "windowsBulkAzureDomainJoin", "authorization", "not authorized")
    clues = Clues(("0x801c0003", "0x80189999"), ("ffffffff-0000-4000-8000-000000000000",), "LAB-PC-1")
    views = [DiagnosisView("s1", d, DirectoryNames({"u1": "Megan"}), clues, events=(event,)) for d in variants]
    views.append(
        DiagnosisView("s2", variants[0], DirectoryNames(), notice="Approvals are not set up yet.", events_error="x")
    )
    views.append(DiagnosisView("s3", _big_diagnosis(raw), DirectoryNames(), clues))
    views.append(DiagnosisView("s4", variants[0], DirectoryNames(), mdm_sign_in=True))
    return views


def _big_diagnosis(raw: dict[str, Any]):
    """A tenant at the size users have, with every cause beyond the join permission holding at once."""
    from bot.domain.causes import ConditionalAccessPolicy, Evidence, PlatformRestriction, SignIn

    accounts = [
        DirectoryUser(f"u{i}", f"package_{i:08d}-0000-4000-8000-000000000000@contoso.onmicrosoft.com", None, True, NOW)
        for i in range(5000)
    ]
    policies = tuple(
        ConditionalAccessPolicy(
            f"p{n}",
            f"Require MFA everywhere for everyone, policy number {n}",
            "enabled",
            include_users=frozenset({"All"}),
            include_applications=frozenset({"All"}),
            controls=frozenset({"mfa"}),
        )
        for n in range(6)
    )
    restriction = PlatformRestriction("r1", "All users and all devices", 0, True, True)
    evidence = Evidence(
        conditional_access=policies,
        restrictions=(restriction,),
        deleted=(),
        sign_ins=tuple(SignIn(f"u{i}", f"x{i}", 53003, ("Block outside school",)) for i in range(50)),
        groups_of={a.id: frozenset() for a in accounts},
    )
    return diagnose(
        PolicySnapshot.from_graph(raw, "req-2"), accounts, {}, NOW, [], evidence, ["0x80180016", "0x80180010"]
    )


def _approval_cards() -> list[dict[str, Any]]:
    from dataclasses import replace

    from bot.domain.approval import ApprovalRequest, State
    from bot.domain.model import JoinSetting, MembershipKind
    from cards.approval import (
        ApprovalView,
        AuditLine,
        build_approval_card,
        build_audit_card,
        build_notice_card,
        build_request_status_card,
    )

    diagnosis = _views()[0].diagnosis
    assert diagnosis.plan is not None
    base = ApprovalRequest(
        id="0123456789abcdef",
        tenant_id="t",
        plan=diagnosis.plan,
        requester_id="r",
        requester_name="Adele Vance",
        created_at=NOW,
        expires_at=NOW,
        justification="Room 101",
        diagnosis_summary="Diagnosis: x.",
        reason="not now",
        error="Graph is down",
        decided_by_name="Megan Bowen",
        graph_request_id="req-9",
    )
    cards = []
    for state in State:
        request = replace(base, state=state)
        for approver in (False, True):
            view = ApprovalView(
                request,
                "members of Enrollment approvers",
                ("29:megan", "29:nestor"),
                for_approver=approver,
                notice="Note" if approver else None,
                current_join=JoinSetting(MembershipKind.ALL),
            )
            cards.append(build_approval_card(view))
        cards.append(build_request_status_card(ApprovalView(request, "members of Enrollment approvers")))
    # Time-bound: pending with a window, open (asked to extend or not), being removed, ended.
    from datetime import timedelta

    ends = (NOW + timedelta(days=7)).isoformat()
    for extra in (
        {"window": "7d"},
        {"window": "7d", "window_ends": ends},
        {"window": "7d", "window_ends": ends, "window_extension_asked": {"by": "Adele", "at": ends}},
        {"window": "7d", "window_ends": ends, "window_close": {"state": "removing", "at": ends}},
        {"window": "7d", "window_ends": ends, "window_close": {"state": "done", "at": ends, "outcome": "removed 2."}},
    ):
        state = State.PENDING if "window_ends" not in extra else State.APPLIED
        request = replace(base, state=state, extra=extra)
        for approver in (False, True):
            cards.append(build_approval_card(ApprovalView(request, "approvers", ("29:m",), for_approver=approver)))
        cards.append(build_request_status_card(ApprovalView(request, "approvers")))
    cards.append(build_notice_card("Nothing to approve", "x"))
    cards.append(build_audit_card([AuditLine(NOW, "approved", "Megan", "01234567", "")]))
    cards.append(build_audit_card([]))
    return cards


def _alert_cards() -> list[dict[str, Any]]:
    from bot.domain.spikes import IncidentChange, KeyView
    from cards.alerts import AlertView, build_alert_card, build_back_to_normal_card, sparkline

    assert sparkline((0, 1, 4, 8)) == "\u2581\u2582\u2585\u2588" and sparkline((0, 0)) == "\u2581\u2581"
    change = IncidentChange(
        kind="opened",
        at=NOW,
        overall=KeyView("all", 14, 1.2, True),
        keys=(KeyView("all", 14, 1.2, True), KeyView("authorization", 12, 1.0, True), KeyView("chat", 2, 0, True)),
        reasons=(("not authorized", 12), ("", 2)),
        users=("u1",),
        trend=(0, 1, 0, 0, 2, 12),
        incident_id="spike-1",
    )
    return [
        build_alert_card(AlertView(change, 60, ("package_x@contoso.com",))),
        build_alert_card(AlertView(change, 180, (), resolved_at=NOW)),
        build_back_to_normal_card(change, 60),
    ]


def _package_cards() -> list[dict[str, Any]]:
    from datetime import timedelta

    from bot.domain.packages import Expiry
    from cards.packages import build_expiry_card, build_new_account_card

    accounts = [
        DirectoryUser(f"p{i}", f"package_{i:08d}-0000-4000-8000-00000000abcd@contoso.com", None, True, NOW)
        for i in range(12)
    ]
    expiring = [Expiry(a, NOW + timedelta(days=3 + i), 14, i if i % 2 else None) for i, a in enumerate(accounts)]
    return [
        build_expiry_card(expiring, NOW, 180),
        build_expiry_card(expiring[:1], NOW, 180),
        build_new_account_card(accounts[0]),
    ]


def _device_log_cards() -> list[dict[str, Any]]:
    from bot.domain.device_logs import read_device_logs
    from cards.device_logs import build_device_logs_card

    logs = ROOT / "tests" / "fixtures" / "eventlogs"
    files = [(p.name, p.read_bytes()) for p in sorted(logs.glob("*.*")) if p.suffix != ".md"]
    many = "".join(
        f"Log Name: Microsoft-Windows-AAD/Operational\nEvent ID: {i}\nDescription:\n0xcaa82ee2\n" for i in range(80)
    )
    files.append(("many.txt", many.encode()))  # rows behind the "Show earlier" toggle
    return [build_device_logs_card(read_device_logs(name, data)) for name, data in files]


def all_cards() -> list[dict[str, Any]]:
    cards = _approval_cards() + _alert_cards() + _package_cards() + _device_log_cards()
    for view in _views():
        cards += [build_device_settings_card(view), build_join_permissions_card(view), build_verify_card(view)]
    cards += [
        build_help_card("Hi Adele."),
        build_help_card(),
        build_help_card(many_tenants=True),
        build_not_understood_card(),
        build_out_of_date_card(),
        build_error_card("Title", "Message", "Next step", "corr-1"),
        build_welcome_card(team=True),
        build_welcome_card(team=False),
        build_did_you_mean_card(),
        build_glad_card(),
        build_elsewhere_card(for_code("0x80180022") or BY_KEY["autopilot"], Clues(("0x80180022",))),
        *_attachment_cards(),
        *_tenant_cards(),
    ]
    from cards.follow_up import Rules, build_follow_up_card, why_of

    step1 = build_device_settings_card(_views()[0])
    cards.append(
        build_follow_up_card(
            "Device settings", step1["fallbackText"], why_of("Device settings", Rules()), step1["actions"]
        )
    )
    return cards


HOSTILE_TENANT = "[Contoso](https://evil.example) **Schools** <at>x</at>"


def _tenant_cards() -> list[dict[str, Any]]:
    from datetime import UTC, datetime

    from cards.tenants import TenantRow, build_consent_card, build_remove_tenant_card, build_tenants_card

    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    home = TenantRow("5f1c2a3b-8d4e-4f60-9a7b-1c2d3e4f5a6b", "Contoso", ("contoso.onmicrosoft.com",), 2, True, False)
    other = TenantRow(
        "7c2b9d41-3e5f-4a6b-8c7d-9e0f1a2b3c4d",
        HOSTILE_TENANT,
        ("fabrikam.onmicrosoft.com", "fabrikam.edu", "schools.fabrikam.edu", "more.fabrikam.edu"),
        1,
        False,
        True,
        "Megan <b>Bowen</b>",
        at,
    )
    return [
        build_consent_card("https://login.microsoftonline.com/organizations/adminconsent?client_id=x&state=y", at),
        build_consent_card(None, None, "fabrikam.onmicrosoft.com", problem="Tenant x has not consented [here](x)"),
        build_tenants_card([home, other]),
        build_remove_tenant_card(other),
    ]


def test_tenant_names_from_graph_are_escaped_on_every_tenant_card():
    from cards.tenants import connected_message

    for card in _tenant_cards()[1:]:
        dumped = json.dumps(card)
        assert "[Contoso](https" not in dumped and "**Schools**" not in dumped and "<at>" not in dumped
        assert "[here](x)" not in dumped and "<b>Bowen" not in dumped
    said = connected_message(HOSTILE_TENANT, ("fabrikam.onmicrosoft.com",))
    assert "[Contoso](https" not in said and "fabrikam\\.onmicrosoft\\.com" in said


def _attachment_cards() -> list[dict[str, Any]]:
    from cards.attachments import build_attachments_refused_card, build_photo_not_the_error_card
    from cards.diagnosis import build_checking_card

    read = "Something went wrong\nYour device could not be set up with Windows Autopilot.\nError code: 0x80180022"
    return [
        build_checking_card(Clues((), (), None, "the photo IMG_0042.JPG", "A setup failure has occurred"), None),
        build_photo_not_the_error_card("IMG_0042.JPG", read, BY_KEY["autopilot"]),
        build_photo_not_the_error_card("the pasted image", "Windows Update", None),
        build_photo_not_the_error_card("the pasted image", "", None),
        build_attachments_refused_card([("big.png", "it is larger than 20 MB, the most I take")]),
        build_attachments_refused_card([("a.docx", "I read only these files: JPG, PNG"), ("b.png", "too slow")]),
    ]


def test_what_was_read_from_a_photo_is_escaped_and_capped():
    from cards.diagnosis import READ_TEXT_LIMIT, build_checking_card

    hostile = "[click](https://evil.example) **A setup failure** <at>x</at> " + "x" * 2000
    card = build_checking_card(Clues((), (), None, "the photo *bold*.png", hostile), None)
    blocks = [e["text"] for e in _elements(card) if e.get("fontType") == "Monospace"]
    assert len(blocks) == 1 and len(blocks[0]) <= READ_TEXT_LIMIT + 20
    assert "[click](https" not in blocks[0] and "**A setup" not in blocks[0]
    assert "the photo *bold*" not in json.dumps(card)  # Markdown in a file name is escaped too


def test_cards_are_valid_adaptive_cards_1_5():
    node = shutil.which("node")
    assert node, "node is required (make test installs the project's npm packages)"
    assert (ROOT / "node_modules" / "adaptivecards").is_dir(), "run npm ci (make test does)"
    cards = all_cards()
    result = subprocess.run(
        [node, str(ROOT / "tests" / "support" / "validate_cards.js")],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    problems = json.loads(result.stdout)
    assert problems == [[] for _ in cards], [(c["fallbackText"], p) for c, p in zip(cards, problems, strict=True) if p]


def test_the_validator_does_catch_a_broken_card():
    broken = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Bogus"}, {"type": "TextBlock"}]}
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "support" / "validate_cards.js")],
        input=json.dumps([broken]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(result.stdout)[0], "the validator accepted an unknown element"


def test_teams_only_elements_carry_a_fallback():
    charts = [e for card in all_cards() for e in _elements(card) if e["type"].startswith("Chart.")]
    assert charts, "the alert card has a trend chart"
    assert all(e["fallback"]["type"] == "TextBlock" for e in charts)


@pytest.mark.parametrize("card", all_cards(), ids=lambda c: c["fallbackText"][:40])
def test_every_card_has_version_fallback_and_size_limit(card):
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["fallbackText"].strip()
    assert len(json.dumps(card).encode()) < 28 * 1024  # Teams' message size limit


def test_every_verb_in_a_card_has_a_handler_and_every_handler_is_reachable():
    verbs_in_cards = {a["verb"] for card in all_cards() for a in actions_in(card)}
    assert verbs_in_cards <= {v.value for v in VERB_HANDLERS}
    assert {v.value for v in VERB_HANDLERS} <= verbs_in_cards
    assert set(VERB_HANDLERS) == set(Verb) == set(PAYLOADS)


def test_action_payloads_round_trip():
    for card in all_cards():
        for action in actions_in(card):
            payload = parse_action(action["verb"], action["data"])
            assert payload is not None, action
            assert action_data(payload) == action["data"]


def test_malformed_payloads_do_not_match():
    assert parse_action("diagnosis.step", {"sessionId": "s", "step": "elsewhere"}) is None
    assert parse_action("diagnosis.step", {"step": "join"}) is None
    assert parse_action("diagnosis.step", ["not", "a", "dict"]) is None
    assert parse_action("unknown.verb", {}) is None
    assert parse_action("approval.request", {"sessionId": "s", "justification": "x" * 2000}) is None
    assert parse_action("diagnosis.step", {"sessionId": "s", "step": "join"}) == ShowStep(session_id="s", step="join")
    typed = parse_action("approval.request", {"sessionId": "s", "justification": "room 101"})
    assert typed == RequestApproval(session_id="s", justification="room 101")


def test_snapshot_of_the_settings_card_structure():
    card = build_device_settings_card(_views()[0])
    kinds = [element["type"] for element in card["body"]]
    assert kinds[:5] == ["TextBlock", "TextBlock", "TextBlock", "TextBlock", "FactSet"]
    assert [a["title"] for a in card["actions"]] == ["Next: join permissions"]
    assert card["actions"][0]["associatedInputs"] == "none"


def test_alert_words_are_plain_and_the_chart_has_times():
    from cards.alerts import usually

    assert usually(0.1) == "usually none"
    assert usually(0.7) == "usually about 1"
    assert usually(11.6) == "usually about 12"
    card = _alert_cards()[0]
    words = json.dumps(card, ensure_ascii=False)
    assert "normal is about" not in words and "usually" in words
    (chart,) = [e for e in _elements(card) if e["type"] == "Chart.VerticalBar"]
    assert all(":" in point["x"] for point in chart["data"])  # HH:MM, not -11…0
    assert chart["xAxisTitle"] == "10 minutes from (UTC)"
    # the numbers are in the chart, or in its fallback; never a second line beside it
    import re

    numbers_only = re.compile(r"^\d+( \u00b7 \d+)+$")
    assert not [e for e in _elements(card) if e["type"] == "TextBlock" and numbers_only.match(e.get("text", ""))]


def test_one_primary_action_and_the_all_alternative_behind_its_consequence():
    card = build_join_permissions_card(_views()[0])
    top = card["actions"]
    assert [a.get("style") for a in top if a.get("style") == "positive"] == ["positive"]
    assert top[0]["title"] == "Request approval" and top[0]["data"].get("option", "minimal") == "minimal"
    # "All" is not a peer of the safe fix: it is one tap away, after the words that say what it does.
    assert not [a for a in top if a["type"] == "Action.Execute" and a["data"].get("option") == "all"]
    (show,) = [a for a in top if a["type"] == "Action.ShowCard"]
    inner = show["card"]
    words = " ".join(e["text"] for e in inner["body"])
    assert "Every user in the tenant will be allowed" in words
    (button,) = inner["actions"]
    assert button["data"]["option"] == "all" and button["associatedInputs"] == "auto"


def test_findings_say_their_severity_in_words_not_only_in_emoji():
    card = build_join_permissions_card(_views()[1])
    lines = [e["text"] for e in _elements(card) if e["type"] == "TextBlock" and e["text"][:1] in "\u26d4\u26a0\u2705"]
    assert lines and all(("Blocker:" in t or "Warning:" in t or "OK:" in t or "join" in t) for t in lines)


def test_the_alert_chart_has_a_text_alternative_and_its_numbers_one_tap_away():
    card = _alert_cards()[0]
    (chart,) = [e for e in _elements(card) if e["type"] == "Chart.VerticalBar"]
    assert chart["title"].startswith("Failures per 10 minutes from ") and "peak" in chart["title"]
    hidden = next(e for e in _elements(card) if e.get("id") == "trend-numbers")
    assert hidden["isVisible"] is False and len(hidden["items"][0]["facts"]) == len(chart["data"])


def test_the_alert_chart_covers_exactly_the_window_the_headline_counts():
    from dataclasses import replace

    from bot.domain.spikes import IncidentChange, KeyView
    from cards.alerts import AlertView, build_alert_card

    at = datetime(2026, 11, 26, 11, 3, tzinfo=UTC)
    change = IncidentChange("opened", at, KeyView("all", 14, 1.2, True), (), (), (), (0, 1, 0, 0, 2, 11), "spike-1")
    for trend in (change.trend, (9, 9, 9, 9, 9, 9, *change.trend)):  # a record from before kept two windows
        card = build_alert_card(AlertView(replace(change, trend=trend), 60))
        assert "**14** failures in the last 60 minutes" in json.dumps(card)
        (chart,) = [e for e in _elements(card) if e["type"] == "Chart.VerticalBar"]
        # Six 10-minute buckets, by when each began: 10:10 to 11:00, the last one filling until 11:03.
        assert [p["x"] for p in chart["data"]] == ["10:10", "10:20", "10:30", "10:40", "10:50", "11:00"]
        assert sum(p["y"] for p in chart["data"]) == 14
        assert chart["title"].startswith("Failures per 10 minutes from 10:10 to 11:03 UTC")


def test_ids_stay_off_the_face_of_diagnosis_alert_and_package_cards_and_their_previews():
    import re

    from tests.support.cards import face_text, text_of

    full_upn = re.compile(r"package_[0-9a-f]{8}-[0-9a-f]{4}-")
    cards = _alert_cards() + _package_cards()
    for view in _views():
        cards += [build_device_settings_card(view), build_join_permissions_card(view), build_verify_card(view)]
    for card in cards:
        face = face_text(card)
        assert "spike-" not in face and "Alert spike" not in face, face
        assert "request id" not in face.lower() and "req-" not in face, face
        assert not full_upn.search(face), face
    # They are one tap away, for whoever needs them.
    assert "spike-1" in text_of(_alert_cards()[0]) and "req-1" in text_of(build_verify_card(_views()[0]))
    single = _package_cards()[1]
    assert "package_00000000-0000-4000-8000-00000000abcd@contoso.com" in text_of(single)


def test_the_help_card_names_the_tenant_commands_once_several_tenants_are_served():
    one = json.dumps(build_help_card())
    many = json.dumps(build_help_card(many_tenants=True))
    assert "use tenant" not in one and "connect a tenant" in one
    assert "use tenant" in many and "tenants" in many
