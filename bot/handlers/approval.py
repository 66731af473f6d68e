"""Handlers of the approval flow: one per card verb, plus the chat commands for approvers."""

from __future__ import annotations

from typing import Any

from bot.changes import KINDS
from bot.domain.approval import Action, State
from bot.domain.recognizer import Recognition
from bot.graph import signed_in_user
from bot.handlers.context import Turn
from bot.handlers.later import answer_later
from bot.signin import missing_role
from cards.approval import AuditLine, build_audit_card, build_notice_card, build_request_status_card
from cards.diagnosis import build_out_of_date_card
from cards.verbs import Approve, AskToExtend, Cancel, EndWindow, ExtendWindow, Reject, Replan, Retry, ViewRequest

AUDIT_LINES = 15
NOT_HERE = "This request is not known here, or this is not where it can be acted on."


async def view(turn: Turn, payload: ViewRequest) -> dict[str, Any]:
    approvals, origin = turn.deps.approvals, turn.origin()
    request = await approvals.load_for(origin, payload.request_id, from_requester=False)
    if request is not None:
        return await approvals.view_for(origin, request)
    mine = await approvals.load_for(origin, payload.request_id, from_requester=True)
    if mine is not None:  # "See request" from the requester's own conversation
        return await approvals.requester_view(mine)
    return build_out_of_date_card(NOT_HERE)


async def _act(turn: Turn, request_id: str, action: Action, reason: str | None = None) -> dict[str, Any]:
    from_requester = action is Action.CANCEL
    request = await turn.deps.approvals.load_for(turn.origin(), request_id, from_requester=from_requester)
    if request is None:
        return build_out_of_date_card(NOT_HERE)
    return await turn.deps.approvals.act(turn.origin(), request, action, reason)


async def _act_signed_in(turn: Turn, request_id: str, action: Action) -> dict[str, Any]:
    """Approver mode: the change is made with the approver's own sign-in. Who may approve and whether the request
    can still be approved are answered first (no sign-in asked of someone who cannot act); then the approver's
    token (SignInRequired becomes the invoke's 401/412 answer); then their role, before anything is written."""
    approvals, origin, signin = turn.deps.approvals, turn.origin(), turn.deps.signin
    assert signin is not None  # built whenever APPLY_AS=approver
    request = await approvals.load_for(origin, request_id, from_requester=False)
    if request is None:
        return build_out_of_date_card(NOT_HERE)
    wanted = State.PENDING if action is Action.APPROVE else State.FAILED
    if request.state is not wanted or not await approvals.is_approver(origin.user_id):
        return await approvals.act(origin, request, action)  # refused, and said why, as in app mode
    own = origin.user_id == request.requester_id and not turn.deps.settings.allow_self_approval
    if action is Action.APPROVE and own:
        return await approvals.act(origin, request, action)
    kind = KINDS[request.plan.kind]
    token = await signin.token_for(
        turn.sign_in_attempt(), f"Sign in: {kind.title} is changed with your own account, as you approve it."
    )
    writer = signin.graph_as(token, turn.sign_in_attempt())
    if signed_in_user(token.token) != origin.user_id:
        # The change must be made by the approver who pressed (whose membership was checked), not another account.
        await writer.close()  # and signed out
        return build_notice_card(
            "Sign in as yourself",
            "The account you signed in with is not the one you use in Teams, so nothing was changed. Press "
            "Approve again and sign in with your own account.",
        )
    try:
        lacking = await missing_role(writer, kind.name)
    except BaseException:
        await writer.close()
        raise
    if lacking is not None:
        await writer.close()
        return await approvals.refuse_for_role(origin, request, lacking)
    return await approvals.act(origin, request, action, writer=writer)


def _signed_in(turn: Turn) -> bool:
    return turn.deps.settings.apply_as == "approver"


async def approve(turn: Turn, payload: Approve) -> dict[str, Any]:
    if _signed_in(turn):
        return await _act_signed_in(turn, payload.request_id, Action.APPROVE)
    return await _act(turn, payload.request_id, Action.APPROVE)


async def reject(turn: Turn, payload: Reject) -> dict[str, Any]:
    return await _act(turn, payload.request_id, Action.REJECT, payload.reason)


async def cancel(turn: Turn, payload: Cancel) -> dict[str, Any]:
    return await _act(turn, payload.request_id, Action.CANCEL)


async def retry(turn: Turn, payload: Retry) -> dict[str, Any]:
    if _signed_in(turn):
        return await _act_signed_in(turn, payload.request_id, Action.RETRY)
    return await _act(turn, payload.request_id, Action.RETRY)


async def replan(turn: Turn, payload: Replan) -> dict[str, Any]:
    request = await turn.deps.approvals.load_for(turn.origin(), payload.request_id, from_requester=False)
    if request is None:
        return build_out_of_date_card(NOT_HERE)
    deps = turn.deps

    async def replanned() -> dict[str, Any]:
        reading = await deps.readings.diagnose(fresh=True)
        return await deps.approvals.replan(turn.origin(), request, reading.diagnosis)

    checking = build_notice_card(
        "Re-planning\u2026", "I am reading the policy as it is now to make a new plan. This card updates itself."
    )
    return await answer_later(turn, checking, replanned)


async def use_channel(turn: Turn, recognition: Recognition) -> None:
    await turn.context.send_activity(await turn.deps.approvals.use_channel(turn.origin()))


def _change_of(data: dict[str, Any]) -> str:
    """Which kind of change an audit line is about, for lines that carry a plan."""
    plan = data.get("plan")
    kind = KINDS.get(str(plan.get("kind") or "join_permission")) if isinstance(plan, dict) else None
    return f"Change: {kind.title}" if kind else ""


async def audit(turn: Turn, recognition: Recognition) -> None:
    approvals = turn.deps.approvals
    if not await approvals.is_approver(turn.user_id):
        await turn.context.send_activity(f"Only {await approvals.approvers_label()} can read the audit log.")
        return
    channel = await approvals.admin_channel()
    if channel is None or channel["conversation"]["id"] != turn.conversation_id.split(";messageid=", 1)[0]:
        await turn.context.send_activity("Ask for the audit log in the admins' channel.")
        return
    entries = await turn.deps.storage.list_audit(limit=AUDIT_LINES)
    lines = [
        AuditLine(
            at=e.at,
            action=e.action.replace("_", " "),
            actor=e.actor_name or "-",
            request=(e.request_id or "-")[:8],
            detail=str(e.data.get("reason") or e.data.get("error") or _change_of(e.data)),
        )
        for e in reversed(entries)
    ]
    await turn.send_card(build_audit_card(lines))


async def status(turn: Turn, recognition: Recognition) -> None:
    mine = [
        r
        for r in await turn.deps.storage.list_approvals(list(State))
        if r.requester_id == turn.user_id and r.tenant_id == turn.tenant_id
    ]
    if not mine:
        await turn.context.send_activity("You have no approval requests. Say **diagnose** to check your tenant.")
        return
    label = await turn.deps.approvals.approvers_label()
    from cards.approval import ApprovalView

    for request in mine[-3:]:
        await turn.send_card(build_request_status_card(ApprovalView(request, label)))


async def _window(turn: Turn, request_id: str, what: str) -> dict[str, Any]:
    approvals, origin = turn.deps.approvals, turn.origin()
    request = await approvals.load_for(origin, request_id, from_requester=what == "ask")
    if request is None:
        return build_out_of_date_card(NOT_HERE)
    return await approvals.act_on_window(origin, request, what)


async def extend_window(turn: Turn, payload: ExtendWindow) -> dict[str, Any]:
    return await _window(turn, payload.request_id, "extend")


async def end_window(turn: Turn, payload: EndWindow) -> dict[str, Any]:
    return await _window(turn, payload.request_id, "end")


async def ask_to_extend(turn: Turn, payload: AskToExtend) -> dict[str, Any]:
    return await _window(turn, payload.request_id, "ask")
