"""The approval workflow's front: who approves and where, finding a request from a press, deciding, and the sweeps;
in states (bot.domain.lifecycle) and views (every copy of a request's card, bot.approvals.copies). Asking,
applying and windows are modules of their own."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.approvals.applying import Applier
from bot.approvals.copies import CHANNEL_SETTING, Copies
from bot.approvals.ledger import Ledger
from bot.approvals.requests import Asked, Requests
from bot.approvals.windows import FOLLOWING, WindowKeeper
from bot.changes import kind_of
from bot.clock import Clock
from bot.domain.approval import (
    REFUSAL_TEXT,
    Action,
    Actor,
    ApprovalRequest,
    Origin,
    Refusal,
    Refused,
    State,
    decide,
    expire,
)
from bot.domain.diagnosis import Diagnosis
from bot.domain.lifecycle import APPROVER_MOVES, ROLE_MOVES, Move, Role, allowed, phase_of, stale_press
from bot.graph import GraphGateway
from bot.observability import Metrics
from bot.proactive import Background, Messenger, channel_base_id
from bot.settings import Settings
from bot.storage import AuditEntry, Storage
from cards.approval import build_notice_card, news_of, request_name
from cards.common import plain

log = logging.getLogger(__name__)

DECISIONS = {
    Move.APPROVE: Action.APPROVE,
    Move.REJECT: Action.REJECT,
    Move.RETRY: Action.RETRY,
    Move.CANCEL: Action.CANCEL,
}
WINDOW_MOVES = (Move.EXTEND, Move.END, Move.ASK_EXTEND)


@dataclass(frozen=True)
class Located:
    """A request as found from a press: the request, and the role of the copy pressed."""

    request: ApprovalRequest
    role: Role


class ApprovalService:
    def __init__(
        self,
        settings: Settings,
        graph: GraphGateway,
        storage: Storage,
        clock: Clock,
        messenger: Messenger,
        background: Background,
        metrics: Metrics | None = None,
        *,
        directory: GraphGateway | None = None,
        directory_tenant: str | None = None,
    ):
        """`directory` is where the approvers' accounts live (the deployment's own tenant, for a customer tenant
        whose approvers are the operator's people); by default the tenant itself."""
        self._settings = settings
        self._graph = graph
        self._directory = directory or graph
        self.directory_tenant = (directory_tenant or settings.tenant_id).lower()
        self._storage = storage
        self._clock = clock
        self._background = background
        self._metrics = metrics or Metrics()
        self._ledger = Ledger(storage, clock, self._metrics)
        self.copies = Copies(settings, self._directory, storage, messenger, clock, self.directory_tenant)
        # An apply running longer than every Graph try could take has lost its process: take it over.
        tries = settings.graph.max_retries + 1
        stuck_after = timedelta(seconds=max(120.0, 4 * settings.graph.timeout * tries))
        self._applier = Applier(graph, storage, clock, self._ledger, self.copies, stuck_after, settings.apply_as)
        self._windows = WindowKeeper(graph, storage, clock, self._ledger, self.copies, stuck_after)
        self._requests = Requests(settings, graph, storage, clock, self.copies, self._metrics)

    # ---- who, and where -------------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return self._settings.approvals_configured

    async def is_approver(self, user_id: str) -> bool:
        """Checked through Graph every time someone acts: membership changes take effect at once."""
        if not user_id:
            return False
        if user_id in self._settings.approver_user_ids:
            return True
        group = self._settings.approver_group_id
        return bool(group) and await self._directory.is_member(user_id, group)  # type: ignore[arg-type]

    async def approvers_label(self) -> str:
        return await self.copies.approvers_label()

    async def admin_channel(self) -> dict[str, Any] | None:
        return await self.copies.admin_channel()

    async def actor(self, origin: Origin) -> Actor:
        return Actor(origin.user_id, origin.user_name, await self.is_approver(origin.user_id))

    # ---- channel set-up -------------------------------------------------------------------------
    async def use_channel(self, origin: Origin) -> str:
        if origin.conversation_type != "channel":
            return "Write this in the admins' channel of a team, with an @mention of me."
        if not self.configured:
            return "Approvers are not configured (APPROVER_GROUP_ID or APPROVER_USER_IDS), so nobody can approve."
        if not await self.is_approver(origin.user_id):
            return f"Only {await self.approvers_label()} can choose the approvals channel."
        channel_id = channel_base_id(origin.conversation_id)
        await self._storage.set_setting(CHANNEL_SETTING, channel_id)
        await self._storage.append_audit(
            AuditEntry(
                at=self._clock.now(),
                action="approval_channel_set",
                actor_id=origin.user_id,
                actor_name=origin.user_name,
                data={"conversationId": channel_id},
            )
        )
        waiting = [r for r in await self._storage.list_approvals([State.PENDING]) if not r.approval_card_id]
        for request in waiting:
            await self.copies.post_to_channel(request)
        posted = f" I posted the {len(waiting)} request(s) that were waiting." if waiting else ""
        return f"This channel now receives approval requests.{posted}"

    # ---- asking ---------------------------------------------------------------------------------------
    def window_for(self, plan: Any, asked: str | None) -> str | None:
        return self._requests.window_for(plan, asked)

    async def request(
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
        return await self._requests.ask(origin, diagnosis, session_id, option, justification, window, in_place=in_place)

    # ---- finding a request from a press ----------------------------------------------------------------
    async def locate(self, origin: Origin, request_id: str, move: Move | None = None) -> Located | None:
        """The request and the role it is acted on in, if it has a copy in this conversation of this tenant: the
        pressed copy's role if that role could make the move, else another role shown here that could."""
        request = await self._storage.get_approval(request_id)
        if request is None or request.tenant_id != origin.tenant_id:
            return None
        here = await self.copies.roles_in(request, origin.conversation_id)
        if not here:
            return None
        pressed = here.get(origin.card_id or "")
        roles = list(dict.fromkeys(([pressed] if pressed else []) + list(here.values())))
        fitting = [r for r in roles if move is None or move in ROLE_MOVES[r]]
        return Located(request, (fitting or roles)[0])

    async def view(self, origin: Origin, located: Located) -> dict[str, Any]:
        """Refresh (automatic or manual) of a copy: approvers get the actions, everyone else the status."""
        request, role = located.request, located.role
        if role not in (Role.APPROVERS, Role.EXTENSION):
            return await self.copies.card(request, role)
        actor = await self.actor(origin)
        notice = None
        if not actor.is_approver and allowed(request, role) & APPROVER_MOVES:
            # Someone pressed "Show approver actions" who may not approve: say so, and who can.
            why = "You asked for this change" if origin.user_id == request.requester_id else "You are not an approver"
            notice = f"{why}, so you see its status only. Who can approve: {await self.approvers_label()}."
        mris = await self.copies.approver_user_ids(await self.admin_channel())
        return await self.copies.card(
            request, role, for_approver=actor.is_approver, notice=notice, approver_user_ids=mris
        )

    # ---- pressing -----------------------------------------------------------------------------------
    async def may_make(self, origin: Origin, located: Located, move: Move) -> bool:
        """Whether this press would be made rather than refused or answered as stale: what approver mode asks
        before it asks anyone to sign in."""
        request, role = located.request, located.role
        if move not in ROLE_MOVES[role] or move not in allowed(request, role):
            return False
        if move in APPROVER_MOVES and not await self.is_approver(origin.user_id):
            return False
        own = origin.user_id == request.requester_id and not self._settings.allow_self_approval
        return not (move is Move.APPROVE and own)

    async def refuse_for_role(self, origin: Origin, located: Located, roles: str) -> dict[str, Any]:
        """Approver mode: the approver lacks the directory role Graph requires for this change. Nothing is written
        and the request keeps waiting for an approver who holds it."""
        request = located.request
        kind = kind_of(request.plan)
        notice = (
            f"{plain(origin.user_name)}, your account does not hold {roles}, which Microsoft Graph requires to change "
            f"{kind.title} with your own sign-in. Nothing was changed: the request still waits for an approver who "
            "holds that role."
        )
        log.info("request %s: approver lacks the role for %s: nothing written", request.id, kind.name)
        return await self.copies.card(request, located.role, for_approver=True, notice=notice)

    async def press(
        self,
        origin: Origin,
        located: Located,
        move: Move,
        reason: str | None = None,
        *,
        writer: GraphGateway | None = None,
    ) -> dict[str, Any] | None:
        """A move pressed on a copy: refused with who may, answered from the current state if the request has
        moved on, or made (committed, then every copy re-rendered). None: the move is not this copy's. With
        `writer` (a gateway signed in as the approver), an approved change is made with it, then it is closed;
        every path that does not hand it to the apply closes it here."""
        handed: list[bool] = []  # set once the writer belongs to the apply it was spawned with
        try:
            return await self._press(origin, located, move, reason, writer, handed)
        finally:
            if writer is not None and not handed:
                await writer.close()

    async def _press(
        self,
        origin: Origin,
        located: Located,
        move: Move,
        reason: str | None,
        writer: GraphGateway | None,
        handed: list[bool],
    ) -> dict[str, Any] | None:
        request, role = located.request, located.role
        actor = await self.actor(origin)

        async def answer(current: ApprovalRequest, notice: str | None = None) -> dict[str, Any]:
            return await self.copies.card(current, role, for_approver=actor.is_approver, notice=notice)

        if role is Role.FOLLOWER and move in ROLE_MOVES[Role.REQUESTER]:
            who = plain(request.requester_name)
            return await answer(request, f"This is {who}'s request: only {who} can cancel it or ask to extend it.")
        if move not in ROLE_MOVES[role]:
            return None

        if move in APPROVER_MOVES and not actor.is_approver:
            message = (
                "Only an approver can extend or end the window."
                if move in WINDOW_MOVES
                else REFUSAL_TEXT[Refusal.NOT_APPROVER]
            )
            return await answer(request, await self._explain(Refusal.NOT_APPROVER, message))
        if move is Move.ASK_EXTEND and origin.user_id != request.requester_id:
            return await answer(request, "Only the person who asked for this change can ask to extend it.")
        if move not in allowed(request, role):
            return await answer(request, stale_press(request, move))
        if move in WINDOW_MOVES:
            transition = self._windows.move(request, move, actor)
            if transition is None or not await self._ledger.commit(transition, actor):
                latest = await self._storage.get_approval(request.id) or request
                return await answer(latest, stale_press(latest, move))
            self._background.spawn(self._windows.after(transition.new, move), name=f"window-{request.id}")
            return await answer(transition.new)
        result = decide(
            request,
            DECISIONS[move],
            actor,
            self._clock.now(),
            allow_self_approval=self._settings.allow_self_approval,
            reason=reason,
        )
        if isinstance(result, Refused):
            if result.transition is not None and await self._ledger.commit(result.transition, None):
                request = result.transition.new
                self._background.spawn(self._settle(request), name=f"refresh-{request.id}")
            return await answer(request, await self._explain(result.refusal, result.message))
        if not await self._ledger.commit(result, actor):
            latest = await self._storage.get_approval(request.id) or request
            return await answer(latest, f"Someone acted first. {stale_press(latest, move)}")
        new = result.new
        if new.state is State.APPROVED:
            as_user = (writer, actor) if writer is not None else None
            if writer is not None:
                handed.append(True)
            self._background.spawn(self._approved(new, as_user), name=f"apply-{new.id}")
        else:
            self._background.spawn(self._settle(new), name=f"refresh-{new.id}")
        return await answer(new)

    async def _approved(self, request: ApprovalRequest, as_user: tuple[GraphGateway, Actor] | None = None) -> None:
        try:
            await self.copies.refresh_everywhere(request)
        finally:
            await self.apply(request.id, as_user)

    async def _settle(self, request: ApprovalRequest) -> None:
        """After a decision that ends the request: every copy shows it; the people following it hear it."""
        await self.copies.refresh_everywhere(request)
        if phase_of(request).is_over:
            roles = (Role.FOLLOWER,) if request.state is State.CANCELLED else FOLLOWING
            await self.copies.tell(request, news_of(request), roles=roles)

    async def replan(self, origin: Origin, located: Located, diagnosis: Diagnosis) -> dict[str, Any]:
        request = located.request
        if request.state is not State.STALE:
            return build_notice_card(
                "Nothing to re-plan", f"{request_name(request)}: {phase_of(request).label.lower()}."
            )
        if not await self.is_approver(origin.user_id):
            return build_notice_card("Not allowed", f"Only {await self.approvers_label()} can re-plan this change.")
        return await self._requests.replan(origin, request, diagnosis)

    async def _explain(self, refusal: Refusal, message: str) -> str:
        """A refusal says why and what to do next: who may act, or how to ask again."""
        if refusal in (Refusal.NOT_APPROVER, Refusal.OWN_REQUEST):
            return f"{message} Who can approve: {await self.approvers_label()}."
        if refusal is Refusal.EXPIRED:
            return f"{message} To ask again, run the diagnosis (Diagnose now) and press Request approval."
        return message

    # ---- applying, windows, and the sweeps -------------------------------------------------------------
    async def apply(self, request_id: str, as_user: tuple[GraphGateway, Actor] | None = None) -> None:
        await self._applier.apply(request_id, as_user)

    async def windows_due(self) -> None:
        await self._windows.due()

    async def resume(self) -> None:
        """Finish what was approved but not applied (after a restart, or a replica that went away)."""
        for request in await self._storage.list_approvals([State.APPROVED, State.APPLYING]):
            log.info("resuming request %s (%s)", request.id, request.state.value)
            await self.apply(request.id)
        await self.expire_due()
        await self.windows_due()

    async def expire_due(self) -> None:
        now = self._clock.now()
        for request in await self._storage.list_approvals([State.PENDING]):
            transition = expire(request, now)
            if transition and await self._ledger.commit(transition, None):
                await self._settle(transition.new)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.approval_sweep_seconds)
            try:
                await self.resume()
            except Exception:
                log.exception("approval sweep failed; trying again next time")


__all__ = ["ApprovalService", "Asked", "Located"]
