"""The approval state machine: who may do what to a request, when; and what applying a plan must do.

Pure code: callers pass `now`, whether the actor is an approver, and the policy as read just before writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.diagnosis import JoinChangePlan, policy_with_join
from bot.domain.model import JoinSetting, PolicySnapshot

DEFAULT_EXPIRY = timedelta(hours=24)


class ChangePlan(Protocol):
    """A kind of change, planned: a pure before/after value (see `bot.changes`)."""

    @property
    def kind(self) -> str: ...

    @property
    def option(self) -> str: ...  # how the diagnosis names it: "minimal", "all", "ca:<policy id>"

    @property
    def accounts(self) -> tuple[str, ...]: ...  # UPNs of the package accounts the change is for

    def fingerprint(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...

    def consequence(self) -> str: ...

    def applied_text(self) -> str: ...

    def stale_text(self) -> str: ...


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    STALE = "stale"

    @property
    def is_final(self) -> bool:
        return self in (State.APPLIED, State.REJECTED, State.EXPIRED, State.CANCELLED, State.STALE)

    @property
    def label(self) -> str:
        return {
            "pending": "Waiting for approval",
            "approved": "Approved, about to apply",
            "applying": "Applying",
            "applied": "Applied",
            "failed": "Failed to apply",
            "rejected": "Rejected",
            "expired": "Expired",
            "cancelled": "Cancelled",
            "stale": "Stale: the policy changed",
        }[self.value]


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    START_APPLY = "start_apply"
    APPLIED = "applied"
    ALREADY_SATISFIED = "already_satisfied"
    MARK_STALE = "mark_stale"
    FAIL = "fail"
    RETRY = "retry"
    # A time-bound join permission (bot/domain/windows.py): each is an audit entry of its own.
    WINDOW_END = "window_end"  # the window is over: removing what the change added
    WINDOW_CLOSED = "window_closed"  # removed (or found nothing of ours to remove)
    WINDOW_EXTEND = "window_extend"
    WINDOW_END_EARLY = "window_end_early"  # an approver ended it now
    WINDOW_REMIND = "window_remind"
    WINDOW_ASK_EXTEND = "window_ask_extend"


@dataclass(frozen=True)
class Origin:
    """Who acts and from where: what the approval workflow needs of a chat turn, and nothing else."""

    user_id: str  # Entra object id, from the activity, never from card data
    user_name: str
    tenant_id: str
    conversation_id: str
    conversation_type: str = "personal"
    card_id: str | None = None  # the card the action came from (the activity's replyToId)


@dataclass(frozen=True)
class Actor:
    id: str  # Entra object id, from the activity, never from card data
    name: str
    is_approver: bool = False


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    tenant_id: str
    plan: ChangePlan
    requester_id: str
    requester_name: str
    created_at: datetime
    expires_at: datetime
    state: State = State.PENDING
    version: int = 0
    justification: str | None = None
    diagnosis_summary: str = ""
    session_id: str | None = None
    requester_conversation_id: str | None = None
    requester_card_id: str | None = None
    approval_conversation_id: str | None = None
    approval_card_id: str | None = None
    decided_by_id: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    outcome: str | None = None
    error: str | None = None
    attempts: int = 0
    policy_before: dict[str, Any] | None = None
    policy_after: dict[str, Any] | None = None
    graph_request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return self.plan.fingerprint()


class Refusal(StrEnum):
    NOT_APPROVER = "not_approver"
    OWN_REQUEST = "own_request"
    NOT_REQUESTER = "not_requester"
    WRONG_STATE = "wrong_state"
    EXPIRED = "expired"
    REASON_REQUIRED = "reason_required"
    ALREADY_DONE = "already_done"


@dataclass(frozen=True)
class Transition:
    """Move from `request.state` to `new.state`; the store applies it only if the state has not moved on."""

    action: Action
    request: ApprovalRequest
    new: ApprovalRequest


@dataclass(frozen=True)
class Refused:
    refusal: Refusal
    message: str
    # A refusal may still imply a transition (approving an expired request expires it).
    transition: Transition | None = None


REFUSAL_TEXT = {
    Refusal.NOT_APPROVER: "Only members of the approvers group can approve or reject this change.",
    Refusal.OWN_REQUEST: "You asked for this change, so someone else must approve it.",
    Refusal.NOT_REQUESTER: "Only the person who asked for this change can cancel it.",
    Refusal.REASON_REQUIRED: "Say why you reject it: the reason is shown to the requester.",
    Refusal.EXPIRED: "This request expired before anyone approved it. Nothing was changed.",
}


def _move(request: ApprovalRequest, action: Action, state: State, **changes: Any) -> Transition:
    return Transition(action, request, replace(request, state=state, version=request.version + 1, **changes))


def decide(
    request: ApprovalRequest,
    action: Action,
    actor: Actor,
    now: datetime,
    *,
    allow_self_approval: bool = False,
    reason: str | None = None,
) -> Transition | Refused:
    """The rules of a person acting on a request (approve, reject, cancel, retry)."""
    state = request.state
    if action in (Action.APPROVE, Action.REJECT, Action.RETRY):
        if not actor.is_approver:
            return Refused(Refusal.NOT_APPROVER, REFUSAL_TEXT[Refusal.NOT_APPROVER])
        if action is not Action.RETRY and actor.id == request.requester_id and not allow_self_approval:
            return Refused(Refusal.OWN_REQUEST, REFUSAL_TEXT[Refusal.OWN_REQUEST])
    if action is Action.CANCEL and actor.id != request.requester_id:
        return Refused(Refusal.NOT_REQUESTER, REFUSAL_TEXT[Refusal.NOT_REQUESTER])

    if state is State.PENDING and now >= request.expires_at and action is not Action.EXPIRE:
        return Refused(Refusal.EXPIRED, REFUSAL_TEXT[Refusal.EXPIRED], expire(request, now))

    if action is Action.APPROVE:
        if state is State.PENDING:
            return _move(
                request, action, State.APPROVED, decided_by_id=actor.id, decided_by_name=actor.name, decided_at=now
            )
        if state in (State.APPROVED, State.APPLYING, State.APPLIED):
            who = request.decided_by_name or "another approver"
            return Refused(Refusal.ALREADY_DONE, f"Already approved by {who}. It is applied once.")
    elif action is Action.REJECT:
        if not (reason or "").strip():
            return Refused(Refusal.REASON_REQUIRED, REFUSAL_TEXT[Refusal.REASON_REQUIRED])
        if state is State.PENDING:
            return _move(
                request,
                action,
                State.REJECTED,
                decided_by_id=actor.id,
                decided_by_name=actor.name,
                decided_at=now,
                reason=(reason or "").strip()[:1000],
            )
    elif action is Action.CANCEL:
        if state is State.PENDING:
            return _move(request, action, State.CANCELLED, decided_at=now)
    elif action is Action.RETRY:
        if state is State.FAILED:
            return _move(request, action, State.APPROVED, error=None)
    verb = {Action.APPROVE: "approved", Action.REJECT: "rejected", Action.CANCEL: "cancelled"}.get(action, "retried")
    return Refused(Refusal.WRONG_STATE, f"This request is {state.label.lower()}; it can no longer be {verb}.")


def expire(request: ApprovalRequest, now: datetime) -> Transition | None:
    if request.state is State.PENDING and now >= request.expires_at:
        return _move(request, Action.EXPIRE, State.EXPIRED, decided_at=now)
    return None


def _enter_applying(request: ApprovalRequest, now: datetime) -> Transition:
    return _move(
        request,
        Action.START_APPLY,
        State.APPLYING,
        attempts=request.attempts + 1,
        extra={**request.extra, "applyingSince": now.isoformat()},
    )


def start_apply(request: ApprovalRequest, now: datetime) -> Transition | None:
    return _enter_applying(request, now) if request.state is State.APPROVED else None


def reclaim(request: ApprovalRequest, now: datetime, stuck_after: timedelta) -> Transition | None:
    """Take over an APPLYING request whose applier went away (it has been applying for too long).

    A request applied right now by a live replica is left alone; the take-over is itself compare-and-set,
    so only one replica gets it, and the apply re-reads the policy first, so a write that did land is
    recognised as already satisfied rather than made again.
    """
    if request.state is not State.APPLYING:
        return None
    since = request.extra.get("applyingSince")
    if since and now - datetime.fromisoformat(since) < stuck_after:
        return None
    return _enter_applying(request, now)


class ApplyStep(StrEnum):
    WRITE = "write"
    ALREADY_SATISFIED = "already_satisfied"
    STALE = "stale"


@dataclass(frozen=True)
class ApplyDecision:
    step: ApplyStep
    body: dict[str, Any] | None = None  # the whole PUT body when step is WRITE
    current: JoinSetting | None = None


def _same(a: JoinSetting, b: JoinSetting) -> bool:
    return a.kind == b.kind and set(a.users) == set(b.users) and set(a.groups) == set(b.groups)


def plan_apply(plan: JoinChangePlan, current: PolicySnapshot) -> ApplyDecision:
    """Terraform-style apply: write only the approved plan, and only over the state it was made from."""
    if _same(current.join, plan.after):
        return ApplyDecision(ApplyStep.ALREADY_SATISFIED, current=current.join)
    if not _same(current.join, plan.before):
        return ApplyDecision(ApplyStep.STALE, current=current.join)
    return ApplyDecision(ApplyStep.WRITE, body=policy_with_join(current.raw, plan.after), current=current.join)


def finish(
    request: ApprovalRequest,
    action: Action,
    now: datetime,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    graph_request_id: str | None = None,
    error: str | None = None,
) -> Transition | None:
    """Leave APPLYING: applied, already satisfied, stale, or failed."""
    if request.state is not State.APPLYING:
        return None
    target = {
        Action.APPLIED: State.APPLIED,
        Action.ALREADY_SATISFIED: State.APPLIED,
        Action.MARK_STALE: State.STALE,
        Action.FAIL: State.FAILED,
    }[action]
    return _move(
        request,
        action,
        target,
        outcome=action.value,
        policy_before=before if before is not None else request.policy_before,
        policy_after=after if after is not None else request.policy_after,
        graph_request_id=graph_request_id or request.graph_request_id,
        error=error,
        extra={**request.extra, "finished_at": now.isoformat()},
    )
