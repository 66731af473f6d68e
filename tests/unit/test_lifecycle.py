"""The request lifecycle as one pure state machine: the phase read from the stored request, and which moves each
viewer's copy may draw in each phase; and the cards rendered from (phase, role)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain import windows
from bot.domain.approval import Action, ApprovalRequest, State, finish, start_apply
from bot.domain.diagnosis import JoinChangePlan
from bot.domain.lifecycle import Move, Phase, Role, allowed, phase_of, stale_press
from bot.domain.model import JoinSetting, MembershipKind
from cards.approval import ApprovalView, build_approval_card, build_request_status_card, news_of, render
from tests.support.cards import elements

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PLAN = JoinChangePlan(
    JoinSetting(MembershipKind.SELECTED, ("a",), ()),
    JoinSetting(MembershipKind.SELECTED, ("a", "p1", "p2"), ()),
    ("package_1@contoso.onmicrosoft.com", "package_2@contoso.onmicrosoft.com"),
)
ASKED = ApprovalRequest(
    id="0123456789abcdef0123456789abcdef",
    tenant_id="t",
    plan=PLAN,
    requester_id="adele",
    requester_name="Adele Vance",
    created_at=NOW,
    expires_at=NOW + timedelta(hours=24),
    extra={"window": "1d"},
)


def walk() -> dict[Phase, ApprovalRequest]:
    """The request at each step of a time-bound change's life, made by the domain's own transitions."""
    steps = {Phase.ASKED: ASKED}
    approved = replace(ASKED, state=State.APPROVED, decided_by_name="Megan Bowen")
    steps[Phase.APPROVED] = approved
    applying = start_apply(approved, NOW)
    assert applying is not None
    steps[Phase.APPLYING] = applying.new
    done = finish(applying.new, Action.APPLIED, NOW, graph_request_id="g-1")
    assert done is not None
    applied = windows.with_window_started(done, NOW, 86400).new
    steps[Phase.APPLIED] = applied
    reminded = windows.due_reminder(applied, NOW + timedelta(hours=12), 86400)
    assert reminded is not None
    steps[Phase.REMINDED] = reminded.new
    asked = windows.extension_asked(reminded.new, NOW + timedelta(hours=13), "Adele Vance")
    assert asked is not None
    steps[Phase.EXTENSION_ASKED] = asked.new
    extended = windows.extended(asked.new, NOW + timedelta(hours=14), 86400, "Megan Bowen")
    assert extended is not None
    steps[Phase.EXTENDED] = extended.new
    removing = windows.due_to_close(extended.new, NOW + timedelta(days=3), timedelta(minutes=5))
    assert removing is not None
    steps[Phase.REMOVING] = removing.new
    steps[Phase.ENDED] = windows.closed(removing.new, NOW + timedelta(days=3), "Removed 2 package accounts.").new
    for state, phase in (
        (State.REJECTED, Phase.REJECTED),
        (State.EXPIRED, Phase.EXPIRED),
        (State.CANCELLED, Phase.CANCELLED),
        (State.STALE, Phase.STALE),
        (State.FAILED, Phase.FAILED),
    ):
        steps[phase] = replace(ASKED, state=state, reason="no", error="Graph is down")
    return steps


def test_every_phase_is_reached_by_the_domain_transitions():
    steps = walk()
    assert set(steps) == set(Phase)
    for phase, request in steps.items():
        assert phase_of(request) is phase


def test_what_each_role_may_do_in_each_phase():
    steps = walk()
    assert allowed(steps[Phase.ASKED], Role.REQUESTER) == {Move.CANCEL}
    assert allowed(steps[Phase.ASKED], Role.FOLLOWER) == set()  # someone else's request: nothing to cancel
    assert allowed(steps[Phase.ASKED], Role.APPROVERS) == {Move.APPROVE, Move.REJECT}
    assert allowed(steps[Phase.APPLYING], Role.APPROVERS) == set()
    assert allowed(steps[Phase.APPLIED], Role.REQUESTER) == {Move.ASK_EXTEND, Move.CHECK}
    assert allowed(steps[Phase.EXTENSION_ASKED], Role.REQUESTER) == {Move.CHECK}  # asked once
    assert allowed(steps[Phase.EXTENSION_ASKED], Role.EXTENSION) == {Move.EXTEND, Move.END}
    assert allowed(steps[Phase.EXTENDED], Role.EXTENSION) == set()  # decided: the post offers nothing more
    for phase in (Phase.REMOVING, Phase.ENDED, Phase.REJECTED, Phase.EXPIRED, Phase.CANCELLED):
        assert allowed(steps[phase], Role.APPROVERS) == set(), phase
        assert allowed(steps[phase], Role.REQUESTER) == {Move.CHECK}, phase
    permanent = replace(steps[Phase.APPLIED], extra={"window": "permanent"})
    assert allowed(permanent, Role.APPROVERS) == set() and allowed(permanent, Role.REQUESTER) == {Move.CHECK}


def test_a_stale_press_says_what_happened_and_what_to_do_instead():
    ended = walk()[Phase.ENDED]
    said = stale_press(ended, Move.ASK_EXTEND)
    assert "window ended and I removed the accounts" in said and "To ask again, run the diagnosis" in said


def words(card: dict) -> str:
    return json.dumps(card, ensure_ascii=False)


def face(card: dict) -> str:
    """What the card's body shows without opening Details."""
    return words(card["body"]).split('"title": "Details"')[0]


def texts(card: dict) -> list[str]:
    return [e["text"] for e in elements(card["body"]) if e.get("type") == "TextBlock"]


def test_every_card_speaks_people_s_words_in_the_tense_of_its_phase():
    for phase, request in walk().items():
        for role in Role:
            card = render(ApprovalView(request, "members of Enrollment approvers", role=role))
            shown = face(card)
            assert request.id[:8] not in shown and "g-1" not in shown, (phase, role)  # ids only behind Details
            assert "Join permission for 2 package accounts, asked by Adele Vance" in shown, (phase, role)
            if phase is not Phase.ASKED and role is Role.APPROVERS:
                assert "Approve a tenant change" not in shown, phase
            said = [t for t in texts(card) if t == phase.label or t.endswith(f": {phase.label}")]
            assert len(said) <= 1, (phase, role)  # the state is said once (no box repeating the title)
            assert "Done:" not in shown
        news = news_of(request)
        assert request.id[:8] not in news and "Adele Vance" in news.splitlines()[0]
    ended = build_approval_card(ApprovalView(walk()[Phase.ENDED], "approvers"))
    assert "the policy now allows" not in words(ended) and "until" not in words(ended)
    applied = build_request_status_card(ApprovalView(walk()[Phase.APPLIED], "approvers", role=Role.REQUESTER))
    assert "Next: apply the package on one device now; if it still fails, paste the new error" in words(applied)


def test_permanently_is_said_plainly_on_the_approval_card():
    permanent = replace(ASKED, extra={"window": "permanent"})
    card = build_approval_card(ApprovalView(permanent, "approvers"))
    assert "Permanently: nothing removes these accounts later" in words(card)
