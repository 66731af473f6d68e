"""The approval flow: requests, the admins' channel, approving, applying exactly the plan, and resuming."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

from bot.approval_board import CHANNEL_SETTING, ApprovalBoard, stale_join
from bot.changes import Result, kind_of
from bot.clock import Clock
from bot.domain import windows
from bot.domain.approval import (
    Action,
    Actor,
    ApprovalRequest,
    Origin,
    Refusal,
    Refused,
    State,
    Transition,
    decide,
    expire,
    finish,
    reclaim,
    start_apply,
)
from bot.domain.diagnosis import Diagnosis, JoinChangePlan
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.observability import Metrics
from bot.proactive import Background, Messenger, channel_base_id
from bot.settings import Settings, window_seconds
from bot.signin import WithoutSignIn
from bot.storage import AuditEntry, Storage
from cards.approval import (
    build_approval_card,
    build_nothing_to_approve_card,
    build_notice_card,
    build_request_status_card,
    short_id,
)
from cards.common import plain

log = logging.getLogger(__name__)

SETUP_HELP = (
    "No admins' channel is set up for approvals yet. {approvers} must open the admins' channel in Teams, "
    "add Enrollment Doctor to the team, and write \u201c@Enrollment Doctor use this channel for approvals\u201d. "
    "Your request is saved and will be posted there as soon as that is done."
)


def summarize(diagnosis: Diagnosis) -> str:
    blockers = [f.title for f in diagnosis.findings if f.severity.value == "blocker"]
    return "Diagnosis: " + ("; ".join(blockers) if blockers else "no blocker found") + "."


def _window_outcome(removal: windows.Removal) -> str:
    parts = []
    count = len(removal.removed)
    if count:
        parts.append(f"removed {count} package account{'s' if count != 1 else ''} from the Selected list")
    else:
        parts.append("nothing of this change was left to remove")
    if removal.kept_by_others:
        n = len(removal.kept_by_others)
        parts.append(
            f"{n} of them may still join through something that is not this change (a group or All): left as is"
        )
    if removal.note:
        parts.append(removal.note)
    return "; ".join(parts) + "."


def _audit(transition: Transition, actor: Actor | None, now, **data: Any) -> AuditEntry:
    new = transition.new
    payload: dict[str, Any] = {"plan": new.plan.to_json()}
    for key, value in (
        ("policyBefore", new.policy_before),
        ("policyAfter", new.policy_after),
        ("graphRequestId", new.graph_request_id),
        ("reason", new.reason),
        ("error", new.error),
    ):
        if value:
            payload[key] = value
    payload.update(data)
    return AuditEntry(
        at=now,
        action=transition.action.value,
        request_id=new.id,
        actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else "Enrollment Doctor",
        from_state=transition.request.state.value,
        to_state=new.state.value,
        data=payload,
    )


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
    ):
        self._settings = settings
        self._graph = graph
        self._storage = storage
        self._clock = clock
        self._messenger = messenger
        self._background = background
        self._metrics = metrics or Metrics()
        self.board = ApprovalBoard(settings, graph, storage, messenger)
        # An apply running longer than every Graph try could take has lost its process: take it over.
        tries = settings.graph.max_retries + 1
        self._stuck_after = timedelta(seconds=max(120.0, 4 * settings.graph.timeout * tries))

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
        return bool(group) and await self._graph.is_member(user_id, group)  # type: ignore[arg-type]

    async def approvers_label(self) -> str:
        return await self.board.approvers_label()

    async def admin_channel(self) -> dict[str, Any] | None:
        return await self.board.admin_channel()

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
            await self.board.post(request)
        posted = f" I posted the {len(waiting)} request(s) that were waiting." if waiting else ""
        return f"This channel now receives approval requests.{posted}"

    # ---- the request ------------------------------------------------------------------------------
    def window_for(self, plan: Any, asked: str | None) -> str:
        """The window a request gets: what was asked if the operator offers it, else the operator's default."""
        # Approver mode: the end of a window would be a write the bot makes on its own, which it may not.
        if not windows.can_have_window(plan) or self._settings.apply_as == "approver":
            return windows.PERMANENT
        offered = {*self._settings.join_windows, windows.PERMANENT}
        return asked if asked in offered else self._settings.join_window_default

    async def request(
        self,
        origin: Origin,
        diagnosis: Diagnosis,
        session_id: str,
        option: str,
        justification: str | None,
        window: str | None = None,
    ) -> dict[str, Any]:
        plan = diagnosis.plan_for(option)
        if plan is None:
            earlier = [r for r in await self._storage.list_approvals(list(State)) if r.session_id == session_id]
            return build_nothing_to_approve_card(
                "The tenant no longer needs this change: every usable package account may already join devices."
                if option in ("minimal", "all")
                else "The tenant no longer needs this change: what it fixed no longer stops the package accounts.",
                session_id,
                earlier[-1] if earlier else None,
            )
        kind = kind_of(plan)
        # In approver mode the approver's own role decides, not a permission the app holds.
        if kind.opt_in and self._settings.apply_as == "app" and not (await self._granted(kind.write_permission)):
            return build_notice_card(
                "I am not allowed to make this change",
                f"The operator has not granted me {kind.write_permission}, so this change is yours to make: "
                f"{kind.portal_steps(plan)} {plan.consequence()}",
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
            requester_card_id=origin.card_id,
            extra={"window": self.window_for(plan, window)},
        )
        request, created = await self._create(
            candidate, origin, justification=candidate.justification, window=candidate.extra["window"]
        )
        notice = None
        if not created:
            notice = "You (or someone) already asked for exactly this change: this is that request."
            if origin.card_id and request.requester_id == origin.user_id:
                await self._storage.set_approval_cards(
                    request.id, requester=(channel_base_id(origin.conversation_id), origin.card_id)
                )
        elif not await self.board.post(request):
            notice = SETUP_HELP.format(approvers=(await self.approvers_label()).capitalize())
        return build_request_status_card(await self.board.view(request, notice=notice))

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

    # ---- acting on a request ----------------------------------------------------------------------
    async def load_for(self, origin: Origin, request_id: str, *, from_requester: bool) -> ApprovalRequest | None:
        """The request, if it exists in this tenant and this conversation is where it can be acted on."""
        request = await self._storage.get_approval(request_id)
        if request is None or request.tenant_id != origin.tenant_id:
            return None
        here = channel_base_id(origin.conversation_id)
        where = request.requester_conversation_id if from_requester else request.approval_conversation_id
        if not where or channel_base_id(where) != here:
            return None
        return request

    async def actor(self, origin: Origin) -> Actor:
        return Actor(origin.user_id, origin.user_name, await self.is_approver(origin.user_id))

    async def requester_view(self, request: ApprovalRequest) -> dict[str, Any]:
        """The request as its requester follows it (from their own conversation)."""
        return build_request_status_card(await self.board.view(request))

    async def view_for(self, origin: Origin, request: ApprovalRequest) -> dict[str, Any]:
        """Refresh (automatic or manual): approvers see the buttons, everyone else the status."""
        actor = await self.actor(origin)
        channel = await self.admin_channel()
        mris = await self.board.approver_user_ids(channel) if channel else ()
        notice = None
        if not actor.is_approver and request.state in (State.PENDING, State.FAILED):
            # Someone pressed "Show approver actions" who may not approve: say so, and who can.
            why = "You asked for this change" if origin.user_id == request.requester_id else "You are not an approver"
            notice = f"{why}, so you see its status only. Who can approve: {await self.approvers_label()}."
        view = await self.board.view(
            request,
            for_approver=actor.is_approver,
            approver_user_ids=mris,
            current_join=stale_join(request),
            notice=notice,
        )
        return build_approval_card(view)

    async def _commit(self, transition: Transition, actor: Actor | None, **audit: Any) -> bool:
        now = self._clock.now()
        ok = await self._storage.apply_transition(transition, _audit(transition, actor, now, **audit), now)
        if ok and transition.new.state is not transition.request.state:
            self._metrics.approvals.labels(transition.new.state.value).inc()
            log.info(
                "request %s: %s -> %s", transition.new.id, transition.request.state.value, transition.new.state.value
            )
        return ok

    async def act(
        self,
        origin: Origin,
        request: ApprovalRequest,
        action: Action,
        reason: str | None = None,
        *,
        writer: GraphGateway | None = None,
    ) -> dict:
        """With `writer` (a gateway signed in as the approver), an approved change is made with it, then it is
        closed; every path that does not hand it to the apply closes it here."""
        handed: list[bool] = []  # set once the writer belongs to the apply it was spawned with
        try:
            return await self._act(origin, request, action, reason, writer, handed)
        finally:
            if writer is not None and not handed:
                await writer.close()

    async def _act(
        self,
        origin: Origin,
        request: ApprovalRequest,
        action: Action,
        reason: str | None,
        writer: GraphGateway | None,
        handed: list[bool],
    ) -> dict:
        actor = await self.actor(origin)
        result = decide(
            request,
            action,
            actor,
            self._clock.now(),
            allow_self_approval=self._settings.allow_self_approval,
            reason=reason,
        )
        if isinstance(result, Refused):
            if result.transition is not None and await self._commit(result.transition, None):
                await self.board.refresh_everywhere(result.transition.new)
                request = result.transition.new
            card_for = build_request_status_card if action is Action.CANCEL else build_approval_card
            notice = await self._explain(result.refusal, result.message)
            return card_for(await self.board.view(request, for_approver=actor.is_approver, notice=notice))
        if not await self._commit(result, actor):
            latest = await self._storage.get_approval(request.id) or request
            notice = f"Someone acted first: the request is now {latest.state.label.lower()}. Nothing else was done."
            card_for = build_request_status_card if action is Action.CANCEL else build_approval_card
            return card_for(await self.board.view(latest, for_approver=False, notice=notice))
        new = result.new
        if new.state is State.APPROVED:
            as_user = (writer, actor) if writer is not None else None
            if writer is not None:
                handed.append(True)
            self._background.spawn(self.apply(new.id, as_user), name=f"apply-{new.id}")
        else:
            self._background.spawn(self.board.refresh_everywhere(new, notify=True), name=f"refresh-{new.id}")
        if action is Action.CANCEL:
            return build_request_status_card(await self.board.view(new))
        return build_approval_card(await self.board.view(new))

    async def refuse_for_role(self, origin: Origin, request: ApprovalRequest, roles: str) -> dict[str, Any]:
        """Approver mode: the approver lacks the directory role Graph requires for this change. Nothing is written
        and the request keeps waiting for an approver who holds it."""
        kind = kind_of(request.plan)
        notice = (
            f"{plain(origin.user_name)}, your account does not hold {roles}, which Microsoft Graph requires to change "
            f"{kind.title} with your own sign-in. Nothing was changed: the request still waits for an approver who "
            "holds that role."
        )
        log.info("request %s: approver lacks the role for %s: nothing written", request.id, kind.name)
        return build_approval_card(await self.board.view(request, for_approver=True, notice=notice))

    async def replan(self, origin: Origin, request: ApprovalRequest, diagnosis: Diagnosis) -> dict[str, Any]:
        if request.state is not State.STALE:
            return build_notice_card("Nothing to re-plan", f"Request {short_id(request)} is {request.state.label}.")
        if not await self.is_approver(origin.user_id) and origin.user_id != request.requester_id:
            return build_notice_card("Not allowed", "Only an approver or the requester can re-plan this change.")
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
            extra={"replanOf": request.id},
        )
        created, is_new = await self._create(fresh, origin, replanOf=request.id)
        if is_new:
            await self.board.post(created)
        return build_notice_card(
            "Re-planned",
            f"Request {short_id(created)} was made from the policy as it is now: {plan.consequence()}",
        )

    # ---- applying ---------------------------------------------------------------------------------
    async def apply(self, request_id: str, as_user: tuple[GraphGateway, Actor] | None = None) -> None:
        """Apply exactly the approved plan, once: CAS into APPLYING, re-read, write, re-read to confirm. With
        `as_user`, every Graph call is made with that approver's own sign-in (then the gateway is closed)."""
        try:
            await self._apply(request_id, as_user)
        finally:
            if as_user is not None:
                await as_user[0].close()

    async def _apply(self, request_id: str, as_user: tuple[GraphGateway, Actor] | None) -> None:
        request = await self._storage.get_approval(request_id)
        if request is None:
            return
        if request.state is State.APPROVED:
            transition = start_apply(request, self._clock.now())
        else:
            transition = reclaim(request, self._clock.now(), self._stuck_after)
        if transition is None or not await self._commit(transition, None):
            return  # someone else is applying it (or it is no longer to be applied)
        request = transition.new
        await self.board.refresh_everywhere(request)
        outcome = await self._write(request, as_user[0] if as_user else None)
        if outcome is not None:
            outcome = windows.with_window_started(
                outcome, self._clock.now(), window_seconds(windows.window_of(request))
            )
        # In approver mode the audit names the person whose own sign-in made the change.
        by, signed_in = (as_user[1], {"madeWith": "the approver's own sign-in"}) if as_user else (None, {})
        if outcome is not None and await self._commit(outcome, by, **signed_in):
            await self.board.refresh_everywhere(outcome.new, notify=True)

    async def _explain(self, refusal: Refusal, message: str) -> str:
        """A refusal says why and what to do next: who may act, or how to ask again."""
        if refusal in (Refusal.NOT_APPROVER, Refusal.OWN_REQUEST):
            return f"{message} Who can approve: {await self.approvers_label()}."
        if refusal is Refusal.EXPIRED:
            return f"{message} To ask again, run the diagnosis (Diagnose now) and press Request approval."
        return message

    async def _granted(self, permission: str) -> bool:
        try:
            return permission in await self._graph.granted_roles()
        except GraphError:
            return False

    def _app_writer(self) -> GraphGateway:
        """The app's own gateway; in approver mode one that reads but never writes (no sign-in at hand)."""
        if self._settings.apply_as == "approver":
            return cast(GraphGateway, WithoutSignIn(self._graph))
        return self._graph

    async def _write(self, request: ApprovalRequest, writer: GraphGateway | None = None) -> Transition | None:
        """Apply the request's plan through its kind: read, refuse stale, write exactly the plan, read back."""
        now = self._clock.now
        kind = kind_of(request.plan)
        try:
            outcome = await kind.apply(writer or self._app_writer(), request.plan)
        except GraphError as exc:
            log.warning("request %s: applying failed: %s", request.id, exc)
            error = exc.message
            if exc.status == 403 and writer is not None:
                error = (
                    "Microsoft Graph refused the change made with the approver's own sign-in: their role did not "
                    "allow it. Nothing was written. An approver who holds the role presses Retry and signs in."
                )
            elif exc.status == 403:
                error += f" Grant admin consent for {kind.write_permission}, then Retry."
            return finish(request, Action.FAIL, now(), error=error)
        if outcome.result is Result.ALREADY:
            return finish(request, Action.ALREADY_SATISFIED, now(), before=outcome.before, after=outcome.after)
        if outcome.result is Result.STALE:
            return finish(request, Action.MARK_STALE, now(), before=outcome.before)
        if outcome.result is Result.UNVERIFIED:
            return finish(
                request,
                Action.FAIL,
                now(),
                before=outcome.before,
                after=outcome.after,
                graph_request_id=outcome.request_id,
                error="Graph accepted the change, but reading the policy back does not show it.",
            )
        return finish(
            request,
            Action.APPLIED,
            now(),
            before=outcome.before,
            after=outcome.after,
            graph_request_id=outcome.request_id,
        )

    # ---- start-up and housekeeping ----------------------------------------------------------------
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
            if transition and await self._commit(transition, None):
                await self.board.refresh_everywhere(transition.new, notify=True)

    # ---- time-bound join permissions ---------------------------------------------------------------
    async def windows_due(self) -> None:
        """Remind requesters a day before a window ends; at its end remove what the change added, once."""
        now = self._clock.now()
        for request in await self._storage.list_approvals([State.APPLIED]):
            if windows.ends_at(request) is None:
                continue
            seconds = window_seconds(windows.window_of(request))
            reminder = windows.due_reminder(request, now, seconds)
            if reminder is not None and await self._commit(reminder, None):
                request = reminder.new
                await self.board.remind(request)
            start = windows.due_to_close(request, now, self._stuck_after)
            if start is not None and await self._commit(start, None):
                await self._close_window(start.new)

    async def _close_window(self, request: ApprovalRequest) -> None:
        """Re-read the policy; remove exactly our accounts (everyone else's changes kept); read back; tell."""
        plan = request.plan
        assert isinstance(plan, JoinChangePlan)  # only such plans get a window (windows.can_have_window)
        try:
            current = await self._graph.get_policy()
            groups = current.join.groups
            members = await self._graph.group_user_ids(groups) if groups else {}
            removal = windows.removal(plan, current, members)
            before, after, graph_id = current.raw, current.raw, None
            if removal.body is not None:
                written = await self._graph.put_policy(removal.body)
                confirmed = await self._graph.get_policy()
                left = [u for u in removal.removed if u in confirmed.join.users]
                if left:
                    raise GraphError(
                        "Graph accepted the removal, but reading the policy back still shows it.",
                        operation="change the device registration policy",
                    )
                after, graph_id = confirmed.raw, written.request_id
        except GraphError as exc:
            # Left "removing": the next sweep after the stuck period tries again, and says so in the log.
            log.warning("request %s: could not end the join window: %s", request.id, exc)
            return
        outcome = _window_outcome(removal)
        transition = windows.closed(
            request,
            self._clock.now(),
            outcome,
            removed=list(removal.removed),
            keptByOthers=list(removal.kept_by_others),
        )
        if await self._commit(transition, None, policyBefore=before, policyAfter=after, graphRequestId=graph_id):
            await self.board.refresh_everywhere(transition.new)
            await self.board.window_closed(transition.new, outcome)

    async def act_on_window(self, origin: Origin, request: ApprovalRequest, what: str) -> dict[str, Any]:
        """Extend or end a window (approvers), or ask for an extension (the requester)."""
        actor = await self.actor(origin)
        now = self._clock.now()
        seconds = window_seconds(windows.window_of(request)) or 0
        transition = None
        if what == "ask":
            if origin.user_id != request.requester_id:
                return build_notice_card("Not yours", "Only the requester can ask for this window to be extended.")
            transition = windows.extension_asked(request, now, origin.user_name)
        elif not actor.is_approver:
            notice = await self._explain(Refusal.NOT_APPROVER, "Only an approver can extend or end the window.")
            return build_approval_card(await self.board.view(request, notice=notice))
        elif what == "extend":
            transition = windows.extended(request, now, seconds, origin.user_name)
        else:
            transition = windows.ended_now(request, now, origin.user_name)
        if transition is None or not await self._commit(transition, actor):
            latest = await self._storage.get_approval(request.id) or request
            notice = "The window is already over (or someone acted first): nothing was changed."
            if what == "ask":
                return build_request_status_card(await self.board.view(latest, notice=notice))
            return build_approval_card(await self.board.view(latest, for_approver=actor.is_approver, notice=notice))
        new = transition.new
        self._background.spawn(self.board.refresh_everywhere(new), name=f"refresh-{new.id}")
        if what == "end":
            self._background.spawn(self.windows_due(), name=f"window-end-{new.id}")
        if what == "ask":
            return build_request_status_card(await self.board.view(new))
        return build_approval_card(await self.board.view(new, for_approver=actor.is_approver))

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.approval_sweep_seconds)
            try:
                await self.resume()
            except Exception:
                log.exception("approval sweep failed; trying again next time")


__all__ = ["ApprovalService"]
