"""Approval cards: the admins' channel card (approver and status views), the requester's status card, audit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from bot.changes import kind_of
from bot.domain import windows
from bot.domain.approval import ApprovalRequest, State
from bot.domain.model import JoinSetting
from cards.common import (
    TEXT_LIMIT,
    build_card,
    callout,
    execute,
    facts,
    heading,
    plain,
    short_account,
    show_all,
    text,
    window_label,
)
from cards.diagnosis import describe_join
from cards.verbs import (
    Approve,
    AskToExtend,
    Cancel,
    EndWindow,
    ExtendWindow,
    Recheck,
    Reject,
    Replan,
    Retry,
    StartDiagnosis,
    ViewRequest,
)

MAX_LISTED_ACCOUNTS = 12
STATE_STYLE = {
    State.PENDING: "emphasis",
    State.APPROVED: "accent",
    State.APPLYING: "accent",
    State.APPLIED: "good",
    State.FAILED: "attention",
    State.REJECTED: "warning",
    State.EXPIRED: "warning",
    State.CANCELLED: "warning",
    State.STALE: "warning",
}


@dataclass(frozen=True)
class ApprovalView:
    request: ApprovalRequest
    approvers_label: str
    approver_user_ids: tuple[str, ...] = ()  # Teams user ids (MRIs) that get the approver view on refresh
    for_approver: bool = False
    notice: str | None = None
    current_join: JoinSetting | None = None  # what the policy is now, when the plan went stale


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def short_id(request: ApprovalRequest) -> str:
    return request.id[:8]


def _status_text(request: ApprovalRequest) -> str:
    state = request.state
    who = plain(request.decided_by_name) if request.decided_by_name else "an approver"
    if state is State.PENDING:
        return f"An approver can approve or reject it until {_when(request.expires_at)}."
    if state in (State.APPROVED, State.APPLYING):
        return f"Approved by {who}. Applying the change now\u2026"
    if state is State.APPLIED and request.outcome == "already_satisfied":
        return f"Approved by {who}. The policy already allowed these accounts: nothing had to be written."
    if state is State.APPLIED:
        rid = f" Graph request id {request.graph_request_id}." if request.graph_request_id else ""
        return f"Approved by {who}, applied and verified: {request.plan.applied_text()}{rid}"
    if state is State.FAILED:
        return f"Approved by {who}, but applying failed: {plain(request.error or 'unknown error', TEXT_LIMIT)}"
    if state is State.REJECTED:
        return f"Rejected by {who}: {plain(request.reason, TEXT_LIMIT)}"
    if state is State.EXPIRED:
        return "Nobody approved it in time. Nothing was changed."
    if state is State.CANCELLED:
        return f"{plain(request.requester_name)} cancelled the request. Nothing was changed."
    return request.plan.stale_text()


def _window_elements(request: ApprovalRequest) -> list[ac.CardElement]:
    """How long the change lasts, in the tense of where it stands."""
    window = windows.window_of(request)
    if not windows.can_have_window(request.plan):
        return []
    if window == windows.PERMANENT:
        return [facts([("Lasts", "Permanently")])]
    label = window_label(window)
    ends = windows.ends_at(request)
    done = windows.closing(request)
    if done.get("state") == "done":
        rows = [("Window", f"{label}, ended {_when(datetime.fromisoformat(done['at']))}")]
        items: list[ac.CardElement] = [facts(rows), text(f"Ended: {plain(done.get('outcome', ''), TEXT_LIMIT)}")]
        return items
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
    if request.state is State.APPLIED:
        items.append(text(f"Done: {plain(plan.applied_text(), TEXT_LIMIT)}"))
    elif not request.state.is_final:
        items.append(text(f"**{plain(plan.consequence(), TEXT_LIMIT)}**"))
    items.extend(_window_elements(request))
    if listed:
        items.append(text("Package accounts concerned", weight="Bolder", spacing="Small"))
        items.extend(text(short_account(upn), size="Small", spacing="None") for upn in listed)
        if len(accounts) > len(listed):
            items.append(text(f"\u2026 and {len(accounts) - len(listed)} more.", size="Small", is_subtle=True))
        items.extend(show_all("all-accounts", accounts))
    return items


def build_approval_card(view: ApprovalView) -> dict[str, Any]:
    request = view.request
    state = request.state
    body: list[ac.CardElement] = [
        *heading("Approve a tenant change", f"Request {short_id(request)}"),
    ]
    if view.notice:
        body.append(callout("Note", view.notice, "warning"))
    pairs = [("Requested by", plain(request.requester_name)), ("Requested at", _when(request.created_at))]
    if request.justification:
        pairs.append(("Why", plain(request.justification, TEXT_LIMIT, multiline=True)))
    pairs.append(("Approvers", view.approvers_label))  # escaped where it is made
    body.append(facts(pairs))
    body.extend(_plan_elements(request))
    if request.diagnosis_summary:
        body.append(text(request.diagnosis_summary, size="Small", is_subtle=True))
    body.append(callout(state.label, _status_text(request), STATE_STYLE[state]))
    if state is State.STALE and view.current_join is not None:
        body.append(text(f"The setting is now: {describe_join(view.current_join)}.", spacing="Small"))
    actions: list[ac.Action] = []
    if view.for_approver:
        if state is State.PENDING:
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
        elif state is State.FAILED:
            actions.append(execute("Retry", Retry(request_id=request.id), style="positive"))
    if state is State.STALE:
        actions.append(execute("Re-plan from the current policy", Replan(request_id=request.id)))
    window_open = windows.is_open(request)
    if view.for_approver and window_open:
        label = window_label(windows.window_of(request))
        actions.append(execute(f"Extend by {label}", ExtendWindow(request_id=request.id)))
        actions.append(execute("End now", EndWindow(request_id=request.id), style="destructive"))
    if not view.for_approver and (state in (State.PENDING, State.FAILED) or window_open):
        # Teams refreshes the card for listed approvers; this is the manual way for clients that do not.
        actions.append(execute("Show approver actions", ViewRequest(request_id=request.id)))
    refresh = None
    if (state in (State.PENDING, State.FAILED, State.STALE) or window_open) and view.approver_user_ids:
        refresh = ac.RefreshDefinition(
            action=ac.ExecuteAction(
                title="Refresh",
                verb="approval.view",
                data=ViewRequest(request_id=request.id).model_dump(by_alias=True),
                associated_inputs="none",
            ),
            user_ids=list(view.approver_user_ids),
        )
    fallback = f"Approval request {short_id(request)}: {request.plan.consequence()} Status: {state.label}."
    return build_card(body, fallback_text=plain(fallback, TEXT_LIMIT), actions=actions, refresh=refresh)


def build_request_status_card(view: ApprovalView) -> dict[str, Any]:
    """The requester's own card; it follows the request to its end."""
    request = view.request
    state = request.state
    body: list[ac.CardElement] = [
        *heading(f"Your request: {state.label}", f"Request {short_id(request)}"),
    ]
    if view.notice:
        body.append(callout("Note", view.notice, "warning"))
    body.extend(_plan_elements(request))
    pairs = [("Approvers", view.approvers_label)]
    if state is State.PENDING:
        pairs.append(("Expires", _when(request.expires_at)))
    body.append(facts(pairs))
    body.append(callout(state.label, _status_text(request), STATE_STYLE[state]))
    actions: list[ac.Action] = []
    if state is State.PENDING:
        actions.append(execute("Cancel request", Cancel(request_id=request.id)))
    if windows.is_open(request) and not request.extra.get("window_extension_asked"):
        actions.append(execute("Ask to extend", AskToExtend(request_id=request.id)))
    if state.is_final or state is State.FAILED:
        actions.append(execute("Check my tenant again", StartDiagnosis()))
    fallback = f"Your request {short_id(request)}: {state.label}."
    return build_card(body, fallback_text=fallback, actions=actions)


def build_nothing_to_approve_card(message: str, session_id: str, earlier: ApprovalRequest | None) -> dict[str, Any]:
    """Not a dead end: what became of the request made from this diagnosis, if any, and a way to look again."""
    body: list[ac.CardElement] = [*heading("Nothing to approve"), text(message)]
    actions: list[ac.Action] = []
    if earlier is not None:
        who = f" by {plain(earlier.decided_by_name)}" if earlier.decided_by_name else ""
        when = f" at {_when(earlier.decided_at)}" if earlier.decided_at else ""
        body.append(
            text(
                f"The request made from this diagnosis, {short_id(earlier)}, is **{earlier.state.label}**{who}{when}.",
                spacing="Medium",
            )
        )
        actions.append(execute(f"See request {short_id(earlier)}", ViewRequest(request_id=earlier.id)))
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
