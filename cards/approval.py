"""Approval cards, each a view of one request (phase, viewer role): the admins' channel card, the extension post,
the requester's (or a follower's) card; and the audit card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from bot.changes import kind_of
from bot.domain import windows
from bot.domain.approval import ApprovalRequest, State
from bot.domain.lifecycle import APPROVER_MOVES, Move, Phase, Role, allowed, phase_of
from bot.domain.model import JoinSetting
from cards.common import (
    FULL_LIST_LIMIT,
    TEXT_LIMIT,
    build_card,
    callout,
    execute,
    facts,
    heading,
    plain,
    short_account,
    text,
    window_label,
)
from cards.diagnosis import describe_join
from cards.verbs import (
    Approve,
    AskToExtend,
    Cancel,
    CheckTenant,
    EndWindow,
    ExtendWindow,
    Recheck,
    Reject,
    Replan,
    Retry,
    ViewRequest,
)

MAX_LISTED_ACCOUNTS = 12
PHASE_STYLE = {
    Phase.ASKED: "emphasis",
    Phase.APPROVED: "accent",
    Phase.APPLYING: "accent",
    Phase.APPLIED: "good",
    Phase.REMINDED: "good",
    Phase.EXTENSION_ASKED: "good",
    Phase.EXTENDED: "good",
    Phase.REMOVING: "accent",
    Phase.ENDED: "emphasis",
    Phase.FAILED: "attention",
    Phase.REJECTED: "warning",
    Phase.EXPIRED: "warning",
    Phase.CANCELLED: "warning",
    Phase.STALE: "warning",
}
# The admins' channel card, titled in the tense of where the request stands.
CHANNEL_TITLES = {
    Phase.ASKED: "Approve a tenant change",
    Phase.APPROVED: "Approved: applying a tenant change",
    Phase.APPLYING: "Approved: applying a tenant change",
    Phase.APPLIED: "Tenant change applied",
    Phase.REMINDED: "Tenant change applied, its window ends soon",
    Phase.EXTENSION_ASKED: "Tenant change applied, extension asked",
    Phase.EXTENDED: "Tenant change applied and extended",
    Phase.REMOVING: "Tenant change ending: removing it",
    Phase.ENDED: "Tenant change ended",
    Phase.REJECTED: "Tenant change rejected",
    Phase.EXPIRED: "Tenant change not approved in time",
    Phase.CANCELLED: "Tenant change cancelled",
    Phase.STALE: "Tenant change not applied: the policy changed",
    Phase.FAILED: "Tenant change failed to apply",
}
NEXT_ON_THE_DEVICE = "Next: apply the package on one device now; if it still fails, paste the new error here."


@dataclass(frozen=True)
class ApprovalView:
    request: ApprovalRequest
    approvers_label: str
    approver_user_ids: tuple[str, ...] = ()  # Teams user ids (MRIs) that get the approver view on refresh
    for_approver: bool = False
    notice: str | None = None  # said to the one person who pressed (never stored with a copy)
    current_join: JoinSetting | None = None  # what the policy is now, when the plan went stale
    role: Role = Role.APPROVERS


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def request_name(request: ApprovalRequest) -> str:
    """A request in people's words: "Join permission for 2 package accounts, asked by Adele Vance" (escaped)."""
    kind = kind_of(request.plan)
    count = len(request.plan.accounts)
    accounts = f" for {count} package account{'s' if count != 1 else ''}" if count else ""
    return f"{kind.noun}{accounts}, asked by {plain(request.requester_name)}"


def _status_text(request: ApprovalRequest) -> str:
    phase = phase_of(request)
    who = plain(request.decided_by_name) if request.decided_by_name else "an approver"
    if phase is Phase.ASKED:
        return f"An approver can approve or reject it until {_when(request.expires_at)}."
    if phase in (Phase.APPROVED, Phase.APPLYING):
        return f"Approved by {who}. Applying the change now\u2026"
    if phase is Phase.REMOVING:
        return "The window is over: removing the package accounts this change added (nothing else)."
    if phase is Phase.ENDED:
        outcome = plain(windows.closing(request).get("outcome", ""), TEXT_LIMIT)
        return f"Approved by {who} and applied; the window ended: {outcome}"
    if request.state is State.APPLIED and request.outcome == "already_satisfied":
        return f"Approved by {who}. The policy already allowed these accounts: nothing had to be written."
    if request.state is State.APPLIED:
        return f"Approved by {who}, applied and verified: {request.plan.applied_text()}"
    if phase is Phase.FAILED:
        return f"Approved by {who}, but applying failed: {plain(request.error or 'unknown error', TEXT_LIMIT)}"
    if phase is Phase.REJECTED:
        return f"Rejected by {who}: {plain(request.reason, TEXT_LIMIT)}"
    if phase is Phase.EXPIRED:
        return "Nobody approved it in time. Nothing was changed."
    if phase is Phase.CANCELLED:
        return f"{plain(request.requester_name)} cancelled the request. Nothing was changed."
    return request.plan.stale_text()


def _status(request: ApprovalRequest) -> ac.Container:
    """Where the request stands, in one box (the title already says the state: the box does not repeat it)."""
    return ac.Container(
        style=PHASE_STYLE[phase_of(request)],  # type: ignore[arg-type]
        items=[text(_status_text(request))],
        spacing="Medium",
    )


def _window_elements(request: ApprovalRequest) -> list[ac.CardElement]:
    """How long the change lasts, in the tense of where it stands."""
    window = windows.window_of(request)
    if not windows.can_have_window(request.plan):
        return []
    if window == windows.PERMANENT:
        return [facts([("Lasts", "Permanently: nothing removes these accounts later (chosen when asked)")])]
    label = window_label(window)
    ends = windows.ends_at(request)
    done = windows.closing(request)
    if done.get("state") == "done":
        return [facts([("Window", f"{label}, ended {_when(datetime.fromisoformat(done['at']))}")])]
    if ends is None:
        when = "from when it is applied" if not request.state.is_final else ""
        return [facts([("Lasts", f"{label} {when}".strip())])]
    rows = [("Lasts", f"{label}: until {_when(ends)}")]
    if done.get("state") == "removing":
        rows.append(("Window", "over: removing the accounts it added"))
    asked = request.extra.get("window_extension_asked")
    if asked:
        rows.append(("Extension", f"{plain(asked.get('by'))} asks for {label} more"))
    return [facts(rows)]


def _plan_elements(request: ApprovalRequest) -> list[ac.CardElement]:
    plan = request.plan
    kind = kind_of(plan)
    accounts = list(plan.accounts)
    listed = accounts[:MAX_LISTED_ACCOUNTS]
    items: list[ac.CardElement] = [
        text(f"Change: {plain(kind.title)} ({kind.portal})", spacing="Medium"),
        facts([(label, plain(value)) for label, value in kind.facts(plan)]),
    ]
    if phase_of(request) in (Phase.ASKED, Phase.APPROVED, Phase.APPLYING, Phase.FAILED):
        items.append(text(f"**{plain(plan.consequence(), TEXT_LIMIT)}**"))
    items.extend(_window_elements(request))
    if listed:
        items.append(text("Package accounts concerned", weight="Bolder", spacing="Small"))
        items.extend(text(short_account(upn), size="Small", spacing="None") for upn in listed)
        if len(accounts) > len(listed):
            items.append(text(f"\u2026 and {len(accounts) - len(listed)} more.", size="Small", is_subtle=True))
    return items


def _details(request: ApprovalRequest) -> list[ac.CardElement]:
    """Ids and full names, for whoever needs them (support, the audit log), behind one toggle."""
    rows = [("Request", request.id)]
    if request.graph_request_id:
        rows.append(("Graph request id", plain(request.graph_request_id)))
    lines: list[ac.CardElement] = [facts(rows)]
    if request.diagnosis_summary:
        lines.append(text(request.diagnosis_summary, size="Small", is_subtle=True))
    lines.extend(
        text(plain(upn), size="Small", spacing="None") for upn in list(request.plan.accounts)[:FULL_LIST_LIMIT]
    )
    element_id = f"details-{request.id[:12]}"
    return [
        ac.ActionSet(
            actions=[ac.ToggleVisibilityAction(title="Details", target_elements=[element_id])], spacing="Small"
        ),
        ac.Container(id=element_id, is_visible=False, items=lines),
    ]


def _refresh(request: ApprovalRequest, view: ApprovalView) -> ac.RefreshDefinition | None:
    """Teams refreshes the card for the listed approvers while it has something for them to do."""
    if not view.approver_user_ids or not (allowed(request, view.role) & APPROVER_MOVES):
        return None
    return ac.RefreshDefinition(
        action=ac.ExecuteAction(
            title="Refresh",
            verb="approval.view",
            data=ViewRequest(request_id=request.id).model_dump(by_alias=True),
            associated_inputs="none",
        ),
        user_ids=list(view.approver_user_ids),
    )


def _approver_actions(request: ApprovalRequest, view: ApprovalView, body: list[ac.CardElement]) -> list[ac.Action]:
    moves = allowed(request, view.role)
    actions: list[ac.Action] = []
    if not view.for_approver:
        if moves & APPROVER_MOVES - {Move.REPLAN}:
            # Teams refreshes the card for listed approvers; this is the manual way for clients that do not.
            actions.append(execute("Show approver actions", ViewRequest(request_id=request.id)))
        if Move.REPLAN in moves:
            actions.append(execute("Re-plan from the current policy", Replan(request_id=request.id)))
        return actions
    if Move.APPROVE in moves:
        body.append(
            ac.TextInput(
                id="reason",
                label="Reason (required to reject; shown to the requester)",
                is_multiline=True,
                max_length=1000,
            )
        )
        actions.append(execute("Approve", Approve(request_id=request.id), style="positive"))
        actions.append(execute("Reject", Reject(request_id=request.id), with_inputs=True, style="destructive"))
    if Move.RETRY in moves:
        actions.append(execute("Retry", Retry(request_id=request.id), style="positive"))
    if Move.REPLAN in moves:
        actions.append(execute("Re-plan from the current policy", Replan(request_id=request.id)))
    if Move.EXTEND in moves:
        label = window_label(windows.window_of(request))
        actions.append(execute(f"Extend by {label}", ExtendWindow(request_id=request.id), style="positive"))
    if Move.END in moves:
        actions.append(execute("End now", EndWindow(request_id=request.id), style="destructive"))
    return actions


def build_approval_card(view: ApprovalView) -> dict[str, Any]:
    """The admins' channel card: everyone sees the status; approvers (on refresh) the actions the phase allows."""
    if view.role is Role.EXTENSION:
        return build_extension_card(view)
    request = view.request
    phase = phase_of(request)
    title = CHANNEL_TITLES[phase]
    body: list[ac.CardElement] = [*heading(title, request_name(request))]
    if view.notice:
        body.append(callout("Note", view.notice, "warning"))
    body.append(_status(request))
    pairs = [("Requested by", plain(request.requester_name)), ("Requested at", _when(request.created_at))]
    if request.justification:
        pairs.append(("Why", plain(request.justification, TEXT_LIMIT, multiline=True)))
    pairs.append(("Approvers", view.approvers_label))  # escaped where it is made
    body.append(facts(pairs))
    body.extend(_plan_elements(request))
    if phase is Phase.STALE and view.current_join is not None:
        body.append(text(f"The setting is now: {describe_join(view.current_join)}.", spacing="Small"))
    actions = _approver_actions(request, view, body)
    body.extend(_details(request))
    fallback = f"{title}: {request_name(request)}."
    return build_card(body, fallback_text=fallback, actions=actions, refresh=_refresh(request, view))


def build_extension_card(view: ApprovalView) -> dict[str, Any]:
    """An extension asked for, posted in the approval card's thread so approvers hear of it; it follows the request
    (decided, or lapsed at the window's end)."""
    request = view.request
    phase = phase_of(request)
    label = window_label(windows.window_of(request))
    asked = request.extra.get("window_extension_asked") or {}
    if asked and phase in (Phase.REMOVING, Phase.ENDED):
        title = "Extension not granted: the window ended"
    elif asked:
        title = f"{plain(asked.get('by'))} asks to extend by {label}"
    elif request.extra.get("window_ended_early_by"):
        title = f"Ended early by {plain(request.extra['window_ended_early_by'])}"
    elif request.extra.get("window_extended_by"):
        title = f"Extended by {plain(request.extra['window_extended_by'])}"
    else:
        title = "Extension decided"
    body: list[ac.CardElement] = [*heading(title, request_name(request))]
    if view.notice:
        body.append(callout("Note", view.notice, "warning"))
    body.append(_status(request))
    body.extend(_window_elements(request))
    actions = _approver_actions(request, view, body)
    body.extend(_details(request))
    return build_card(
        body, fallback_text=f"{title}: {request_name(request)}.", actions=actions, refresh=_refresh(request, view)
    )


def build_request_status_card(view: ApprovalView) -> dict[str, Any]:
    """The requester's own card (or a follower's): one card that follows the request to its end."""
    request = view.request
    phase = phase_of(request)
    role = view.role if view.role in (Role.REQUESTER, Role.FOLLOWER) else Role.REQUESTER
    if role is Role.REQUESTER:
        title = f"Your request: {phase.label}"
    else:
        title = f"Request by {plain(request.requester_name)}: {phase.label}"
    body: list[ac.CardElement] = [*heading(title, request_name(request))]
    if view.notice:
        body.append(callout("Note", view.notice, "warning"))
    if role is Role.FOLLOWER:
        body.append(
            text(
                f"{plain(request.requester_name)} asked for exactly this change at {_when(request.created_at)}. "
                f"You follow it here; only {plain(request.requester_name)} can cancel it.",
                spacing="Small",
            )
        )
    body.append(_status(request))
    if request.state is State.APPLIED and phase is not Phase.ENDED:
        body.append(text(f"**{NEXT_ON_THE_DEVICE}**", spacing="Small"))
    body.extend(_plan_elements(request))
    pairs = [("Approvers", view.approvers_label)]
    if phase is Phase.ASKED:
        pairs.append(("Expires", _when(request.expires_at)))
    body.append(facts(pairs))
    body.extend(_details(request))
    moves = allowed(request, role)
    actions: list[ac.Action] = []
    if Move.CANCEL in moves:
        actions.append(execute("Cancel request", Cancel(request_id=request.id)))
    if Move.ASK_EXTEND in moves:
        actions.append(execute("Ask to extend", AskToExtend(request_id=request.id)))
    if Move.CHECK in moves:
        actions.append(execute("Check my tenant again", CheckTenant(request_id=request.id)))
    return build_card(body, fallback_text=f"{title}: {request_name(request)}.", actions=actions)


def news_of(request: ApprovalRequest) -> str:
    """What just happened to the request, as a short message whose first line is the news (so the notification
    says it), in people's words; sent in reply to the request's card."""
    phase = phase_of(request)
    name = request_name(request)
    who = plain(request.decided_by_name) if request.decided_by_name else "an approver"
    ends = windows.ends_at(request)
    if phase is Phase.APPLIED:
        return f"Applied: {name}.\n\n{NEXT_ON_THE_DEVICE}"
    if phase is Phase.EXTENDED:
        by = plain(request.extra.get("window_extended_by"))
        return f"Extended by {by} until {_when(ends)}: {name}."
    if phase is Phase.REMINDED:
        return (
            f"Ends {_when(ends)}: {name}.\n\nThen I remove the package accounts it added. "
            "Still deploying? Press Ask to extend on the request card (an approver decides)."
        )
    if phase is Phase.ENDED:
        done = windows.closing(request)
        text_ = f"Ended: {name}. {plain(done.get('outcome', ''), TEXT_LIMIT)}"
        if done.get("extensionLapsed"):
            text_ += f"\n\nThe extension {plain(done['extensionLapsed'])} asked for was not decided in time: it lapsed."
        return text_
    if phase is Phase.FAILED:
        return f"Failed to apply: {name}. {plain(request.error or 'unknown error', TEXT_LIMIT)} An approver can retry."
    if phase is Phase.REJECTED:
        return f"Rejected by {who}: {name}. Reason: {plain(request.reason, TEXT_LIMIT)}"
    if phase is Phase.EXPIRED:
        return f"Expired: {name}. Nobody approved it in time; nothing was changed."
    if phase is Phase.CANCELLED:
        return f"Cancelled: {name}. Nothing was changed."
    if phase is Phase.STALE:
        return f"Not applied: {name}. The policy changed before it was applied; nothing was written."
    return f"{phase.label}: {name}."


def render(view: ApprovalView) -> dict[str, Any]:
    """The card of one copy, from the request and the copy's role."""
    if view.role in (Role.REQUESTER, Role.FOLLOWER):
        return build_request_status_card(view)
    return build_approval_card(view)


def build_nothing_to_approve_card(message: str, session_id: str, earlier: ApprovalRequest | None) -> dict[str, Any]:
    """Not a dead end: what became of the request made from this diagnosis, if any, and a way to look again."""
    body: list[ac.CardElement] = [*heading("Nothing to approve"), text(message)]
    actions: list[ac.Action] = []
    if earlier is not None:
        who = f" by {plain(earlier.decided_by_name)}" if earlier.decided_by_name else ""
        when = f" at {_when(earlier.decided_at)}" if earlier.decided_at else ""
        body.append(
            text(
                f"The request made from this diagnosis ({request_name(earlier)}) is "
                f"**{phase_of(earlier).label}**{who}{when}.",
                spacing="Medium",
            )
        )
        actions.append(execute("See the request", ViewRequest(request_id=earlier.id)))
    actions.append(execute("Check again", Recheck(session_id=session_id), style="positive"))
    return build_card(body, fallback_text=f"Nothing to approve: {message}", actions=actions)


def build_notice_card(title: str, message: str) -> dict[str, Any]:
    body: list[ac.CardElement] = [*heading(title), text(message)]
    return build_card(body, fallback_text=f"{title}: {message}")


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    action: str
    actor: str
    request: str
    detail: str


def build_audit_card(lines: Sequence[AuditLine]) -> dict[str, Any]:
    body: list[ac.CardElement] = [*heading("Audit log", f"The {len(lines)} most recent entries")]
    if not lines:
        body.append(text("Nothing has been recorded yet."))
    for line in lines:
        body.append(
            text(
                f"**{_when(line.at)}** \u00b7 {line.action} \u00b7 {plain(line.actor)} \u00b7 request {line.request}"
                + (f"\n{plain(line.detail, TEXT_LIMIT)}" if line.detail else ""),
                size="Small",
                spacing="Small",
            )
        )
    body.append(text("Export everything: `python app.py audit --since DATE --json`", size="Small", is_subtle=True))
    return build_card(body, fallback_text=f"Audit log: {len(lines)} entries")
