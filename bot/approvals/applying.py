"""Applying an approved request exactly once: compare-and-set into APPLYING, write the plan through its kind of
change (read, refuse stale, write, read back), start its window, and show the outcome on every copy."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import cast

from bot.approvals.copies import Copies
from bot.approvals.ledger import Ledger
from bot.changes import Result, kind_of
from bot.clock import Clock
from bot.domain import windows
from bot.domain.approval import Action, Actor, ApprovalRequest, State, Transition, finish, reclaim, start_apply
from bot.domain.lifecycle import Role
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.settings import window_seconds
from bot.signin import WithoutSignIn
from bot.storage import Storage
from cards.approval import news_of

log = logging.getLogger(__name__)


class Applier:
    def __init__(
        self,
        graph: GraphGateway,
        storage: Storage,
        clock: Clock,
        ledger: Ledger,
        copies: Copies,
        stuck_after: timedelta,
        apply_as: str = "app",
    ):
        self._graph = graph
        self._apply_as = apply_as
        self._storage = storage
        self._clock = clock
        self._ledger = ledger
        self._copies = copies
        self._stuck_after = stuck_after

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
        if transition is None or not await self._ledger.commit(transition, None):
            return  # someone else is applying it (or it is no longer to be applied)
        request = transition.new
        await self._copies.refresh_everywhere(request)
        outcome = await self._write(request, as_user[0] if as_user else None)
        if outcome is not None:
            outcome = windows.with_window_started(
                outcome, self._clock.now(), window_seconds(windows.window_of(request))
            )
        # In approver mode the audit names the person whose own sign-in made the change.
        by, signed_in = (as_user[1], {"madeWith": "the approver's own sign-in"}) if as_user else (None, {})
        if outcome is not None and await self._ledger.commit(outcome, by, **signed_in):
            await self._copies.refresh_everywhere(outcome.new)
            await self._copies.tell(outcome.new, news_of(outcome.new), roles=(Role.REQUESTER, Role.FOLLOWER))

    def _app_writer(self) -> GraphGateway:
        """The app's own gateway; in approver mode one that reads but never writes (no sign-in at hand)."""
        if self._apply_as == "approver":
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
