"""Time-bound join permissions at work: remind before the end, extend or end on an approver's word, and at the end
remove exactly what the change added (read back to be sure), then tell everyone where the request is shown."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot.approvals.copies import Copies
from bot.approvals.ledger import Ledger
from bot.clock import Clock
from bot.domain import windows
from bot.domain.approval import Actor, ApprovalRequest, State, Transition
from bot.domain.diagnosis import JoinChangePlan
from bot.domain.lifecycle import Move, Role
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.settings import window_seconds
from bot.storage import Storage
from cards.approval import news_of

log = logging.getLogger(__name__)
FOLLOWING = (Role.REQUESTER, Role.FOLLOWER)


def window_outcome(removal: windows.Removal) -> str:
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
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


class WindowKeeper:
    def __init__(
        self,
        graph: GraphGateway,
        storage: Storage,
        clock: Clock,
        ledger: Ledger,
        copies: Copies,
        stuck_after: timedelta,
    ):
        self._graph = graph
        self._storage = storage
        self._clock = clock
        self._ledger = ledger
        self._copies = copies
        self._stuck_after = stuck_after

    async def due(self) -> None:
        """Remind requesters before a window ends; at its end remove what the change added, once."""
        now = self._clock.now()
        for request in await self._storage.list_approvals([State.APPLIED]):
            if windows.ends_at(request) is None:
                continue
            seconds = window_seconds(windows.window_of(request))
            reminder = windows.due_reminder(request, now, seconds)
            if reminder is not None and await self._ledger.commit(reminder, None):
                request = reminder.new
                await self._copies.refresh_everywhere(request)
                await self._copies.tell(request, news_of(request), roles=(Role.REQUESTER,))
            start = windows.due_to_close(request, now, self._stuck_after)
            if start is not None and await self._ledger.commit(start, None):
                await self._copies.refresh_everywhere(start.new)
                await self._close(start.new)

    async def _close(self, request: ApprovalRequest) -> None:
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
                if [u for u in removal.removed if u in confirmed.join.users]:
                    raise GraphError(
                        "Graph accepted the removal, but reading the policy back still shows it.",
                        operation="change the device registration policy",
                    )
                after, graph_id = confirmed.raw, written.request_id
        except GraphError as exc:
            # Left "removing": the next sweep after the stuck period tries again, and says so in the log.
            log.warning("request %s: could not end the join window: %s", request.id, exc)
            return
        asked = request.extra.get("window_extension_asked")
        details: dict[str, Any] = {"removed": list(removal.removed), "keptByOthers": list(removal.kept_by_others)}
        if asked:
            details["extensionLapsed"] = asked.get("by") or "the requester"
        transition = windows.closed(request, self._clock.now(), window_outcome(removal), **details)
        if await self._ledger.commit(transition, None, policyBefore=before, policyAfter=after, graphRequestId=graph_id):
            ended = transition.new
            await self._copies.refresh_everywhere(ended)
            await self._copies.tell(ended, news_of(ended), roles=(*FOLLOWING, Role.APPROVERS))

    def move(self, request: ApprovalRequest, move: Move, actor: Actor) -> Transition | None:
        """The transition an approver's Extend / End now, or the requester's Ask to extend, makes (None: too late)."""
        now = self._clock.now()
        if move is Move.ASK_EXTEND:
            return windows.extension_asked(request, now, actor.name)
        if move is Move.EXTEND:
            return windows.extended(request, now, window_seconds(windows.window_of(request)) or 0, actor.name)
        return windows.ended_now(request, now, actor.name)

    async def after(self, request: ApprovalRequest, move: Move) -> None:
        """After a committed window move: every copy shows it, and whoever it concerns hears of it."""
        await self._copies.refresh_everywhere(request)
        if move is Move.ASK_EXTEND:
            await self._copies.post_extension(request)
        elif move is Move.EXTEND:
            await self._copies.tell(request, news_of(request), roles=FOLLOWING)
        else:
            await self.due()  # ended now: remove at once


__all__ = ["WindowKeeper", "window_outcome"]
