"""Handlers of the approval flow: one per card verb, plus the chat commands for approvers."""

from __future__ import annotations

from typing import Any

from bot.approvals import Located
from bot.changes import KINDS
from bot.domain.approval import State
from bot.domain.lifecycle import ROLE_MOVES, Move, Role, phase_of
from bot.domain.recognizer import Recognition
from bot.graph import signed_in_user
from bot.handlers.context import Turn
from bot.handlers.later import answer_later
from bot.signin import missing_role
from cards.approval import AuditLine, build_audit_card, build_notice_card, request_name
from cards.diagnosis import build_out_of_date_card
from cards.verbs import (
    Approve,
    AskToExtend,
    Cancel,
    CheckTenant,
    EndWindow,
    ExtendWindow,
    Reject,
    Replan,
    Retry,
    ViewRequest,
)

AUDIT_LINES = 15
NOT_HERE = "This request is not known here, or this is not where it can be acted on."


async def view(turn: Turn, payload: ViewRequest) -> dict[str, Any]:
    approvals, origin = turn.deps.approvals, turn.origin()
    located = await approvals.locate(origin, payload.request_id)
    if located is None:
        return build_out_of_date_card(NOT_HERE)
    return await approvals.view(origin, located)


async def _press(turn: Turn, request_id: str, move: Move, reason: str | None = None) -> dict[str, Any]:
    approvals, origin = turn.deps.approvals, turn.origin()
    located = await approvals.locate(origin, request_id, move)
    if located is None:
        return build_out_of_date_card(NOT_HERE)
    if move in SIGNED_IN_MOVES and turn.deps.settings.apply_as == "approver":
        answer = await _press_signed_in(turn, located, move)
    else:
        answer = await approvals.press(origin, located, move, reason)
    return answer if answer is not None else build_out_of_date_card(NOT_HERE)


SIGNED_IN_MOVES = (Move.APPROVE, Move.RETRY)  # the moves that lead to a write


async def _press_signed_in(turn: Turn, located: Located, move: Move) -> dict[str, Any] | None:
    """Approver mode: the change is made with the approver's own sign-in. A press that would be refused or is stale
    is answered first, as in app mode (no sign-in asked of someone who cannot act); then the approver's token
    (SignInRequired becomes the invoke's 401/412 answer); then their role, before anything is written."""
    approvals, origin, signin = turn.deps.approvals, turn.origin(), turn.deps.signin
    assert signin is not None  # built whenever APPLY_AS=approver
    if not await approvals.may_make(origin, located, move):
        return await approvals.press(origin, located, move)
    kind = KINDS[located.request.plan.kind]
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
        return await approvals.refuse_for_role(origin, located, lacking)
    return await approvals.press(origin, located, move, writer=writer)


async def approve(turn: Turn, payload: Approve) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.APPROVE)


async def reject(turn: Turn, payload: Reject) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.REJECT, payload.reason)


async def cancel(turn: Turn, payload: Cancel) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.CANCEL)


async def retry(turn: Turn, payload: Retry) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.RETRY)


async def extend_window(turn: Turn, payload: ExtendWindow) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.EXTEND)


async def end_window(turn: Turn, payload: EndWindow) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.END)


async def ask_to_extend(turn: Turn, payload: AskToExtend) -> dict[str, Any]:
    return await _press(turn, payload.request_id, Move.ASK_EXTEND)


async def check_tenant(turn: Turn, payload: CheckTenant) -> dict[str, Any]:
    """ "Check my tenant again" on a request card: the check goes in a new card below; the request card stays
    (answered with itself, as it stands now)."""
    from bot.handlers.diagnosis import check_in_new_card

    approvals, origin = turn.deps.approvals, turn.origin()
    located = await approvals.locate(origin, payload.request_id, Move.CHECK)
    if located is None or Move.CHECK not in ROLE_MOVES[located.role]:
        return build_out_of_date_card(NOT_HERE)
    session = await turn.deps.storage.get_session(located.request.session_id or "")
    await check_in_new_card(turn, session)
    return await approvals.view(origin, located)


async def replan(turn: Turn, payload: Replan) -> dict[str, Any]:
    approvals, origin = turn.deps.approvals, turn.origin()
    located = await approvals.locate(origin, payload.request_id, Move.REPLAN)
    if located is None or Move.REPLAN not in ROLE_MOVES[located.role]:
        return build_out_of_date_card(NOT_HERE)
    deps = turn.deps

    async def replanned() -> dict[str, Any]:
        reading = await deps.readings.diagnose(fresh=True)
        return await deps.approvals.replan(origin, located, reading.diagnosis)

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
        if r.requester_id == turn.user_id and r.tenant_id == turn.acting_tenant
    ]
    if not mine:
        await turn.context.send_activity("You have no approval requests. Say **diagnose** to check your tenant.")
        return
    copies = turn.deps.approvals.copies
    lines = [f"- {phase_of(r).label}: {request_name(r)}" for r in mine[-5:]]
    await turn.context.send_activity(
        f"Your {len(lines)} most recent request(s):\n\n" + "\n".join(lines) + "\n\nEach request card in this chat "
        "follows its request; here is the latest one again."
    )
    latest = mine[-1]
    card_id = await turn.send_card(await copies.card(latest, Role.REQUESTER))
    if card_id:
        await copies.register(latest, turn.conversation_id, card_id, Role.REQUESTER)
