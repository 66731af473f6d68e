"""The approval rules as a pure state machine, with the clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.approval import (
    Action,
    Actor,
    ApplyStep,
    ApprovalRequest,
    Refusal,
    Refused,
    State,
    Transition,
    decide,
    expire,
    finish,
    plan_apply,
    reclaim,
    start_apply,
)
from bot.domain.diagnosis import JoinChangePlan
from bot.domain.model import JoinSetting, MembershipKind, PolicySnapshot

NOW = datetime(2026, 11, 26, tzinfo=UTC)
BEFORE = JoinSetting(MembershipKind.SELECTED, ("a",), ("g",))
AFTER = JoinSetting(MembershipKind.SELECTED, ("a", "p1"), ("g",))
PLAN = JoinChangePlan(BEFORE, AFTER, ("package_1@c",))
APPROVER = Actor("megan", "Megan", is_approver=True)
OTHER = Actor("alex", "Alex", is_approver=False)
REQUESTER = Actor("adele", "Adele", is_approver=True)


def request(**changes) -> ApprovalRequest:
    base = ApprovalRequest(
        id="r",
        tenant_id="t",
        plan=PLAN,
        requester_id="adele",
        requester_name="Adele",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=24),
    )
    return ApprovalRequest(**{**base.__dict__, **changes})


def policy(join: JoinSetting) -> PolicySnapshot:
    raw = {
        "id": "deviceRegistrationPolicy",
        "userDeviceQuota": 20,
        "multiFactorAuthConfiguration": "notRequired",
        "azureADRegistration": {
            "allowedToRegister": {"@odata.type": "#microsoft.graph.allDeviceRegistrationMembership"}
        },
        "azureADJoin": {"allowedToJoin": join.to_graph(), "localAdmins": {"enableGlobalAdmins": False}},
        "localAdminPassword": {"isEnabled": True},
    }
    return PolicySnapshot.from_graph(raw)


def test_approver_approves_a_pending_request():
    result = decide(request(), Action.APPROVE, APPROVER, NOW)
    assert isinstance(result, Transition)
    assert result.new.state is State.APPROVED and result.new.version == 1 and result.new.decided_by_id == "megan"


def test_refusals():
    assert decide(request(), Action.APPROVE, OTHER, NOW).refusal is Refusal.NOT_APPROVER  # type: ignore[union-attr]
    assert decide(request(), Action.APPROVE, REQUESTER, NOW).refusal is Refusal.OWN_REQUEST  # type: ignore[union-attr]
    allowed = decide(request(), Action.APPROVE, REQUESTER, NOW, allow_self_approval=True)
    assert isinstance(allowed, Transition)
    assert decide(request(), Action.REJECT, APPROVER, NOW, reason=" ").refusal is Refusal.REASON_REQUIRED  # type: ignore[union-attr]
    assert decide(request(), Action.CANCEL, APPROVER, NOW).refusal is Refusal.NOT_REQUESTER  # type: ignore[union-attr]


def test_idempotent_reclick_and_wrong_state():
    approved = request(state=State.APPROVED, decided_by_name="Megan")
    again = decide(approved, Action.APPROVE, APPROVER, NOW)
    assert isinstance(again, Refused) and again.refusal is Refusal.ALREADY_DONE and again.transition is None
    assert decide(request(state=State.REJECTED), Action.APPROVE, APPROVER, NOW).refusal is Refusal.WRONG_STATE  # type: ignore[union-attr]
    retry = decide(request(state=State.FAILED, error="x"), Action.RETRY, APPROVER, NOW)
    assert isinstance(retry, Transition) and retry.new.state is State.APPROVED and retry.new.error is None


def test_expiry_with_the_clock_passed_in():
    late = NOW + timedelta(hours=24)
    result = decide(request(), Action.APPROVE, APPROVER, late)
    assert isinstance(result, Refused) and result.refusal is Refusal.EXPIRED
    assert result.transition is not None and result.transition.new.state is State.EXPIRED
    assert expire(request(), NOW + timedelta(hours=23)) is None
    assert expire(request(), late).new.state is State.EXPIRED  # type: ignore[union-attr]


def test_apply_writes_only_over_the_planned_before():
    write = plan_apply(PLAN, policy(BEFORE))
    assert write.step is ApplyStep.WRITE
    assert write.body is not None and write.body["azureADJoin"]["allowedToJoin"]["users"] == ["a", "p1"]
    assert write.body["userDeviceQuota"] == 20 and write.body["localAdminPassword"] == {"isEnabled": True}
    assert "id" not in write.body
    assert (
        plan_apply(PLAN, policy(JoinSetting(MembershipKind.SELECTED, ("p1", "a"), ("g",)))).step
        is ApplyStep.ALREADY_SATISFIED
    )
    assert plan_apply(PLAN, policy(JoinSetting(MembershipKind.ALL))).step is ApplyStep.STALE


def test_apply_lifecycle():
    applying = start_apply(request(state=State.APPROVED), NOW)
    assert applying is not None and applying.new.state is State.APPLYING and applying.new.attempts == 1
    assert start_apply(request(), NOW) is None
    # A live apply is left alone; one stuck for longer than any Graph try could take is taken over.
    assert reclaim(applying.new, NOW + timedelta(minutes=1), timedelta(minutes=5)) is None
    taken = reclaim(applying.new, NOW + timedelta(minutes=6), timedelta(minutes=5))
    assert taken is not None and taken.new.version == applying.new.version + 1 and taken.new.attempts == 2
    done = finish(applying.new, Action.APPLIED, NOW, before={"b": 1}, after={"a": 1}, graph_request_id="g1")
    assert done is not None and done.new.state is State.APPLIED and done.new.graph_request_id == "g1"
    assert finish(request(), Action.APPLIED, NOW) is None
    stale = finish(applying.new, Action.MARK_STALE, NOW)
    assert stale is not None and stale.new.state is State.STALE and stale.new.state.is_final
