"""A request's lifecycle as one state machine: the phase it is in, who sees it where (each copy of its card), and
which moves each viewer may make in each phase. Pure: every card of a request is rendered from (phase, role).

The stored `State` says where the approval stands (asked, approved, applying, applied, or a final no); an applied
time-bound change goes on through its window, kept in the request's `extra` by `bot.domain.windows`. `phase_of`
reads both into one phase; the transitions themselves are the pure functions of `approval` and `windows`, each
committed by compare-and-set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain import windows
from bot.domain.approval import ApprovalRequest, State


class Phase(StrEnum):
    ASKED = "asked"
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    REMINDED = "reminded"  # the window ends soon, and the requester was told
    EXTENSION_ASKED = "extension_asked"
    EXTENDED = "extended"
    REMOVING = "removing"  # the window is over: taking out what the change added
    ENDED = "ended"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    STALE = "stale"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return PHASE_LABELS[self]

    @property
    def is_over(self) -> bool:
        """Nothing more will happen to the request by itself or by anyone's press."""
        return self in (Phase.ENDED, Phase.REJECTED, Phase.EXPIRED, Phase.CANCELLED, Phase.STALE)


PHASE_LABELS = {
    Phase.ASKED: "Waiting for approval",
    Phase.APPROVED: "Approved, about to apply",
    Phase.APPLYING: "Applying",
    Phase.APPLIED: "Applied",
    Phase.REMINDED: "Applied, ending soon",
    Phase.EXTENSION_ASKED: "Applied, extension asked",
    Phase.EXTENDED: "Applied, extended",
    Phase.REMOVING: "Window over, removing",
    Phase.ENDED: "Ended",
    Phase.REJECTED: "Rejected",
    Phase.EXPIRED: "Expired",
    Phase.CANCELLED: "Cancelled",
    Phase.STALE: "Not applied: the policy changed",
    Phase.FAILED: "Failed to apply",
}

WINDOW_OPEN = (Phase.APPLIED, Phase.REMINDED, Phase.EXTENSION_ASKED, Phase.EXTENDED)


def phase_of(request: ApprovalRequest) -> Phase:
    state = request.state
    if state is not State.APPLIED:
        return {
            State.PENDING: Phase.ASKED,
            State.APPROVED: Phase.APPROVED,
            State.APPLYING: Phase.APPLYING,
            State.FAILED: Phase.FAILED,
            State.REJECTED: Phase.REJECTED,
            State.EXPIRED: Phase.EXPIRED,
            State.CANCELLED: Phase.CANCELLED,
            State.STALE: Phase.STALE,
        }[state]
    closing = windows.closing(request).get("state")
    if closing == "done":
        return Phase.ENDED
    if closing == "removing":
        return Phase.REMOVING
    if windows.ends_at(request) is None:
        return Phase.APPLIED
    if request.extra.get("window_extension_asked"):
        return Phase.EXTENSION_ASKED
    if request.extra.get("window_reminded"):
        return Phase.REMINDED
    if request.extra.get("window_extended_by"):
        return Phase.EXTENDED
    return Phase.APPLIED


class Role(StrEnum):
    """Who a copy of the request's card is for: it decides which moves the copy may draw."""

    APPROVERS = "approvers"  # the card in the admins' channel (approvers get its actions on refresh)
    EXTENSION = "extension"  # an extension asked for: a post in the approval card's thread, for approvers
    REQUESTER = "requester"  # the card in the chat of the person who asked
    FOLLOWER = "follower"  # the card of someone else who asked for exactly this change


class Move(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETRY = "retry"
    REPLAN = "replan"
    EXTEND = "extend"
    END = "end"
    CANCEL = "cancel"
    ASK_EXTEND = "ask_extend"
    CHECK = "check"  # read the tenant again (a new diagnosis card, never in the request card's place)


APPROVER_MOVES = frozenset({Move.APPROVE, Move.REJECT, Move.RETRY, Move.REPLAN, Move.EXTEND, Move.END})
# What each role could ever do; a press of anything else is not this card's (a forged or misplaced action).
ROLE_MOVES = {
    Role.APPROVERS: APPROVER_MOVES,
    Role.EXTENSION: frozenset({Move.EXTEND, Move.END}),
    Role.REQUESTER: frozenset({Move.CANCEL, Move.ASK_EXTEND, Move.CHECK}),
    Role.FOLLOWER: frozenset({Move.CHECK}),
}

_BY_PHASE: dict[Phase, frozenset[Move]] = {
    Phase.ASKED: frozenset({Move.APPROVE, Move.REJECT, Move.CANCEL}),
    Phase.APPROVED: frozenset(),
    Phase.APPLYING: frozenset(),
    Phase.FAILED: frozenset({Move.RETRY, Move.CHECK}),
    Phase.STALE: frozenset({Move.REPLAN, Move.CHECK}),
    Phase.APPLIED: frozenset({Move.EXTEND, Move.END, Move.ASK_EXTEND, Move.CHECK}),
    Phase.REMINDED: frozenset({Move.EXTEND, Move.END, Move.ASK_EXTEND, Move.CHECK}),
    Phase.EXTENDED: frozenset({Move.EXTEND, Move.END, Move.ASK_EXTEND, Move.CHECK}),
    Phase.EXTENSION_ASKED: frozenset({Move.EXTEND, Move.END, Move.CHECK}),
    Phase.REMOVING: frozenset({Move.CHECK}),
    Phase.ENDED: frozenset({Move.CHECK}),
    Phase.REJECTED: frozenset({Move.CHECK}),
    Phase.EXPIRED: frozenset({Move.CHECK}),
    Phase.CANCELLED: frozenset({Move.CHECK}),
}


def allowed(request: ApprovalRequest, role: Role) -> frozenset[Move]:
    """The moves a copy for `role` offers now: what the phase allows, of what the role may ever do."""
    phase = phase_of(request)
    moves = _BY_PHASE[phase] & ROLE_MOVES[role]
    if phase in WINDOW_OPEN and windows.ends_at(request) is None:  # a permanent change has no window
        moves -= {Move.EXTEND, Move.END, Move.ASK_EXTEND}
    if role is Role.EXTENSION and not request.extra.get("window_extension_asked"):
        moves = frozenset()  # the extension post is done once the extension is decided
    return moves


def stale_press(request: ApprovalRequest, move: Move) -> str:
    """A press of a move the request no longer allows, answered from where it stands: what happened, what now."""
    phase = phase_of(request)
    who = request.decided_by_name or "an approver"
    happened = {
        Phase.ASKED: "It is still waiting for approval.",
        Phase.APPROVED: f"{who} approved it; I am applying it now.",
        Phase.APPLYING: f"{who} approved it; I am applying it now.",
        Phase.APPLIED: "It is applied.",
        Phase.REMINDED: "It is applied, and its window ends soon.",
        Phase.EXTENSION_ASKED: "An extension is already asked for; an approver decides.",
        Phase.EXTENDED: "It is applied and was extended.",
        Phase.REMOVING: "Its window is over: I am removing the accounts it added.",
        Phase.ENDED: "Its window ended and I removed the accounts it added.",
        Phase.REJECTED: f"{who} rejected it.",
        Phase.EXPIRED: "Nobody approved it in time; nothing was changed.",
        Phase.CANCELLED: "It was cancelled; nothing was changed.",
        Phase.STALE: "The policy changed before it was applied; nothing was written.",
        Phase.FAILED: "Applying it failed.",
    }[phase]
    if phase.is_over or phase is Phase.REMOVING:
        instead = "To ask again, run the diagnosis (Check my tenant) and request approval."
    elif phase is Phase.FAILED:
        instead = "An approver can retry it from the admins' channel."
    elif phase in (Phase.APPROVED, Phase.APPLYING):
        instead = "This card updates itself when it is done."
    else:
        instead = "This card now shows what can be done."
    return f"That press changed nothing. {happened} {instead}"


@dataclass(frozen=True)
class CardCopy:
    """One message the request was shown in: where, which activity, and for whom."""

    request_id: str
    conversation_id: str
    activity_id: str
    role: Role
    added_at: datetime | None = None
