"""Time-bound join permissions, like time-bound role assignments in Entra PIM: an approved change that adds
package accounts may last a window (1, 7, 30 days...), after which the bot removes exactly the accounts its
change added, keeping everything anyone else changed since. Pure: the moves are Transitions of the request
(state stays APPLIED; the window lives in `extra`), applied by compare-and-set like every other move."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain.approval import Action, ApprovalRequest, State, Transition
from bot.domain.diagnosis import JoinChangePlan, policy_with_join
from bot.domain.model import JoinSetting, MembershipKind, PolicySnapshot

PERMANENT = "permanent"
REMIND_LEAD = timedelta(days=1)


def can_have_window(plan: Any) -> bool:
    """Only a change that adds package accounts can be taken back by removing them."""
    return isinstance(plan, JoinChangePlan) and bool(plan.added_users) and not plan.widens_to_all


def window_of(request: ApprovalRequest) -> str:
    return str(request.extra.get("window", PERMANENT))


def ends_at(request: ApprovalRequest) -> datetime | None:
    value = request.extra.get("window_ends")
    return datetime.fromisoformat(value) if value else None


def closing(request: ApprovalRequest) -> dict[str, Any]:
    return dict(request.extra.get("window_close") or {})


def is_open(request: ApprovalRequest) -> bool:
    return request.state is State.APPLIED and ends_at(request) is not None and not closing(request)


def _move(request: ApprovalRequest, action: Action, **extra: Any) -> Transition:
    return Transition(action, request, replace(request, version=request.version + 1, extra={**request.extra, **extra}))


def with_window_started(transition: Transition, now: datetime, seconds: int | None) -> Transition:
    """On APPLIED: the window starts when the change is in the tenant, not when it was asked for."""
    if seconds is None or transition.new.state is not State.APPLIED:
        return transition
    extra = {**transition.new.extra, "window_ends": (now + timedelta(seconds=seconds)).isoformat()}
    return replace(transition, new=replace(transition.new, extra=extra))


def remind_lead(seconds: int) -> timedelta:
    return min(REMIND_LEAD, timedelta(seconds=seconds / 2))


def due_reminder(request: ApprovalRequest, now: datetime, seconds: int | None) -> Transition | None:
    ends = ends_at(request)
    if not is_open(request) or ends is None or seconds is None or request.extra.get("window_reminded"):
        return None
    if now < ends - remind_lead(seconds) or now >= ends:
        return None
    return _move(request, Action.WINDOW_REMIND, window_reminded=now.isoformat())


def due_to_close(request: ApprovalRequest, now: datetime, stuck_after: timedelta) -> Transition | None:
    """The window is over (or a removal that started was never finished, by a replica that went away)."""
    ends = ends_at(request)
    if request.state is not State.APPLIED or ends is None or now < ends:
        return None
    current = closing(request)
    if current.get("state") == "done":
        return None
    if current.get("state") == "removing" and now - datetime.fromisoformat(current["at"]) < stuck_after:
        return None
    return _move(request, Action.WINDOW_END, window_close={"state": "removing", "at": now.isoformat()})


def extended(request: ApprovalRequest, now: datetime, seconds: int, by: str) -> Transition | None:
    ends = ends_at(request)
    if not is_open(request) or ends is None:
        return None
    new_end = max(ends, now) + timedelta(seconds=seconds)
    return _move(
        request,
        Action.WINDOW_EXTEND,
        window_ends=new_end.isoformat(),
        window_reminded=None,
        window_extension_asked=None,
        window_extended_by=by,
    )


def ended_now(request: ApprovalRequest, now: datetime, by: str) -> Transition | None:
    if not is_open(request):
        return None
    return _move(request, Action.WINDOW_END_EARLY, window_ends=now.isoformat(), window_ended_early_by=by)


def extension_asked(request: ApprovalRequest, now: datetime, by: str) -> Transition | None:
    if not is_open(request) or request.extra.get("window_extension_asked"):
        return None
    return _move(request, Action.WINDOW_ASK_EXTEND, window_extension_asked={"by": by, "at": now.isoformat()})


@dataclass(frozen=True)
class Removal:
    body: dict[str, Any] | None  # the PUT body, or None: nothing of ours is in the list any more
    removed: tuple[str, ...]  # our accounts taken out of the Selected list
    kept_by_others: tuple[str, ...]  # ours, still allowed to join by something that is not our change
    note: str | None = None


def removal(plan: JoinChangePlan, current: PolicySnapshot, groups_of: dict[str, frozenset[str]]) -> Removal:
    """Take out exactly the accounts our change added; leave every other user and group as it is now."""
    ours = set(plan.added_users)
    join = current.join
    if join.kind is MembershipKind.ALL:
        return Removal(None, (), tuple(sorted(ours)), "The setting is now All: someone changed it; nothing removed.")
    if join.kind is MembershipKind.NONE:
        return Removal(None, (), (), "The setting is now None: nobody may join; nothing of ours to remove.")
    present = tuple(u for u in join.users if u in ours)
    after = JoinSetting(MembershipKind.SELECTED, tuple(u for u in join.users if u not in ours), join.groups)
    through_groups = tuple(sorted(u for u in ours if any(u in groups_of.get(g, frozenset()) for g in join.groups)))
    body = policy_with_join(current.raw, after) if present else None
    return Removal(body, present, through_groups)


def closed(request: ApprovalRequest, now: datetime, outcome: str, **details: Any) -> Transition:
    return _move(
        request,
        Action.WINDOW_CLOSED,
        window_close={"state": "done", "at": now.isoformat(), "outcome": outcome, **details},
    )
