"""Asking for a change: a new request (or the pending one for the same plan) with its cards, the window it gets,
and a new request re-planned from a stale one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bot.approvals.copies import Copies
from bot.changes import kind_of
from bot.clock import Clock
from bot.domain import windows
from bot.domain.approval import ApprovalRequest, Origin, State
from bot.domain.diagnosis import Diagnosis
from bot.domain.lifecycle import Role
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.observability import Metrics
from bot.proactive import channel_base_id
from bot.settings import Settings
from bot.storage import AuditEntry, Storage
from cards.approval import build_nothing_to_approve_card, build_notice_card
from cards.common import window_label

SETUP_HELP = (
    "No admins' channel is set up for approvals yet. {approvers} must open the admins' channel in Teams, "
    "add Enrollment Doctor to the team, and write \u201c@Enrollment Doctor use this channel for approvals\u201d. "
    "Your request is saved and will be posted there as soon as that is done."
)


def summarize(diagnosis: Diagnosis) -> str:
    blockers = [f.title for f in diagnosis.findings if f.severity.value == "blocker"]
    return "Diagnosis: " + ("; ".join(blockers) if blockers else "no blocker found") + "."


@dataclass(frozen=True)
class Asked:
    """What asking for approval gave: the request (None when nothing was asked) and what to tell the asker."""

    request: ApprovalRequest | None
    notice: str
    card: dict[str, Any] | None = None  # a card to answer with instead (nothing to approve, not allowed)


class Requests:
    def __init__(
        self,
        settings: Settings,
        graph: GraphGateway,
        storage: Storage,
        clock: Clock,
        copies: Copies,
        metrics: Metrics,
    ):
        self._settings = settings
        self._graph = graph
        self._storage = storage
        self._clock = clock
        self._copies = copies
        self._metrics = metrics

    def window_for(self, plan: Any, asked: str | None) -> str | None:
        """The window a request gets: what was asked if the operator offers it, the default if nothing was asked;
        None for a window that is not offered (refused, never silently replaced)."""
        # Approver mode: the end of a window would be a write the bot makes on its own, which it may not.
        if not windows.can_have_window(plan) or self._settings.apply_as == "approver":
            return windows.PERMANENT
        if asked is None:
            return self._settings.join_window_default
        return asked if asked in {*self._settings.join_windows, windows.PERMANENT} else None

    async def ask(
        self,
        origin: Origin,
        diagnosis: Diagnosis,
        session_id: str,
        option: str,
        justification: str | None,
        window: str | None = None,
        *,
        in_place: bool = False,
    ) -> Asked:
        """Ask for the change the diagnosis plans. The request card is a new message of its own (the diagnosis card
        stays); with `in_place`, the card pressed becomes the request card (a card that was only an offer)."""
        plan = diagnosis.plan_for(option)
        if plan is None:
            earlier = [r for r in await self._storage.list_approvals(list(State)) if r.session_id == session_id]
            card = build_nothing_to_approve_card(
                "The tenant no longer needs this change: every usable package account may already join devices."
                if option in ("minimal", "all")
                else "The tenant no longer needs this change: what it fixed no longer stops the package accounts.",
                session_id,
                earlier[-1] if earlier else None,
            )
            return Asked(None, "Nothing to approve.", card)
        kind = kind_of(plan)
        # In approver mode the approver's own role decides, not a permission the app holds.
        if kind.opt_in and self._settings.apply_as == "app" and not (await self._granted(kind.write_permission)):
            card = build_notice_card(
                "I am not allowed to make this change",
                f"The operator has not granted me {kind.write_permission}, so this change is yours to make: "
                f"{kind.portal_steps(plan)} {plan.consequence()}",
            )
            return Asked(None, "Not allowed.", card)
        chosen = self.window_for(plan, window)
        if chosen is None:
            offered = ", ".join(window_label(w) for w in (*self._settings.join_windows, windows.PERMANENT))
            return Asked(
                None,
                f"\u201c{window}\u201d is not a window offered here ({offered}): nothing was asked. "
                "Choose one of them and press Request approval again.",
            )
        now = self._clock.now()
        candidate = ApprovalRequest(
            id=uuid.uuid4().hex,
            tenant_id=origin.tenant_id,
            plan=plan,
            requester_id=origin.user_id,
            requester_name=origin.user_name,
            created_at=now,
            expires_at=now + timedelta(hours=self._settings.approval_expiry_hours),
            justification=(justification or "").strip()[:1000] or None,
            diagnosis_summary=summarize(diagnosis),
            session_id=session_id,
            requester_conversation_id=channel_base_id(origin.conversation_id),
            extra={"window": chosen},
        )
        request, created = await self._create(candidate, origin, justification=candidate.justification, window=chosen)
        mine = request.requester_id == origin.user_id
        role = Role.REQUESTER if mine else Role.FOLLOWER
        if created and not await self._copies.post_to_channel(request):
            notice = SETUP_HELP.format(approvers=(await self._copies.approvers_label()).capitalize())
        elif created:
            notice = "Asked: the approvers' channel has it. The request card below follows it."
        elif mine:
            notice = "You already asked for exactly this change: the request card below follows it."
        else:
            notice = (
                f"{request.requester_name} already asked for exactly this change at "
                f"{request.created_at:%H:%M} UTC: you follow that request in the card below."
            )
        if in_place and origin.card_id:
            await self._copies.register(request, origin.conversation_id, origin.card_id, role)
            return Asked(request, notice, await self._copies.card(request, role, notice=notice))
        await self._copies.send_copy(request, origin.conversation_id, role)
        return Asked(request, notice)

    async def _create(self, candidate: ApprovalRequest, origin: Origin, **data: Any) -> tuple[ApprovalRequest, bool]:
        """Store a new pending request with its "created" audit line, or get the pending one for the same plan."""
        audit = AuditEntry(
            at=candidate.created_at,
            action="created",
            request_id=candidate.id,
            actor_id=origin.user_id,
            actor_name=origin.user_name,
            to_state=State.PENDING.value,
            data={"plan": candidate.plan.to_json(), **data},
        )
        request, created = await self._storage.create_approval(candidate, audit)
        if created:
            self._metrics.approvals.labels("created").inc()
        return request, created

    async def replan(self, origin: Origin, request: ApprovalRequest, diagnosis: Diagnosis) -> dict[str, Any]:
        """A new request made from the policy as it is now, for a stale one (the caller checked who may)."""
        plan = diagnosis.plan_for(request.plan.option)
        if plan is None:
            return build_notice_card("Nothing to re-plan", "The tenant no longer needs this change.")
        now = self._clock.now()
        fresh = replace(
            request,
            id=uuid.uuid4().hex,
            plan=plan,
            state=State.PENDING,
            version=0,
            created_at=now,
            expires_at=now + timedelta(hours=self._settings.approval_expiry_hours),
            diagnosis_summary=summarize(diagnosis),
            requester_card_id=None,
            approval_conversation_id=None,
            approval_card_id=None,
            decided_by_id=None,
            decided_by_name=None,
            decided_at=None,
            outcome=None,
            error=None,
            attempts=0,
            policy_before=None,
            policy_after=None,
            graph_request_id=None,
            extra={"replanOf": request.id, "window": request.extra.get("window", windows.PERMANENT)},
        )
        created, is_new = await self._create(fresh, origin, replanOf=request.id)
        if is_new:
            await self._copies.post_to_channel(created)
            if request.requester_conversation_id:
                await self._copies.send_copy(created, request.requester_conversation_id, Role.REQUESTER)
        return build_notice_card(
            "Re-planned", f"A new request was made from the policy as it is now: {plan.consequence()}"
        )

    async def _granted(self, permission: str) -> bool:
        try:
            return permission in await self._graph.granted_roles()
        except GraphError:
            return False
