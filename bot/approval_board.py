"""The approval cards' side of the workflow: where they go (the admins' channel, the requester's chat), who sees
the approver view, and keeping every copy of a request's card current. The workflow itself (`bot.approvals`)
decides and applies; this only shows."""

from __future__ import annotations

import logging
from typing import Any

from bot.domain import windows
from bot.domain.approval import ApprovalRequest, State
from bot.domain.model import JoinSetting, PolicyParseError, PolicySnapshot
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.proactive import ConversationGoneError, Messenger, channel_base_id
from bot.settings import Settings
from bot.storage import Storage
from cards.approval import ApprovalView, build_approval_card, build_request_status_card, short_id
from cards.common import TEXT_LIMIT, plain

log = logging.getLogger(__name__)

CHANNEL_SETTING = "approval_channel"
MAX_REFRESH_USERS = 60


class ApprovalBoard:
    def __init__(self, settings: Settings, graph: GraphGateway, storage: Storage, messenger: Messenger):
        self._settings = settings
        self._graph = graph
        self._storage = storage
        self._messenger = messenger
        self._group_name: str | None = None

    async def approvers_label(self) -> str:
        parts = []
        group = self._settings.approver_group_id
        if group:
            if self._group_name is None:
                try:
                    names = await self._graph.resolve_names([], [group])
                    self._group_name = names.name(group)
                except GraphError:
                    return "members of the approvers group"
            parts.append(f"members of {plain(self._group_name)}")  # a directory name: escaped once, here
        if self._settings.approver_user_ids:
            count = len(self._settings.approver_user_ids)
            parts.append(f"{count} named approver{'s' if count != 1 else ''}")
        return " and ".join(parts) or "nobody (approvers are not configured)"

    async def admin_channel(self) -> dict[str, Any] | None:
        conversation_id = await self._storage.get_setting(CHANNEL_SETTING) or self._settings.approval_channel_id
        if not conversation_id:
            return None
        channel_id = channel_base_id(conversation_id)
        record = await self._storage.get_conversation(channel_id)
        if record is not None:
            return record.reference
        # Named in settings but not seen yet: Teams serves a tenant's conversations from one service URL, so
        # any conversation of this tenant gives the URL and the bot's identity to reach the channel with.
        known = await self._storage.latest_conversation(self._settings.tenant_id)
        if known is None:
            return None
        reference = dict(known.reference)
        reference["conversation"] = {
            "id": channel_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": self._settings.tenant_id,
        }
        return reference

    async def approver_user_ids(self, channel: dict[str, Any]) -> tuple[str, ...]:
        """Teams ids of the channel's members who are approvers: they get the approver view on refresh."""
        try:
            members = await self._messenger.member_ids(channel)
            approvers = set(self._settings.approver_user_ids)
            if self._settings.approver_group_id:
                approvers |= await self._graph.group_member_ids(self._settings.approver_group_id)
        except (GraphError, ConversationGoneError) as exc:
            log.warning("could not list the approvers in the admins' channel: %s", exc)
            return ()
        return tuple(mri for aad, mri in members.items() if aad in approvers)[:MAX_REFRESH_USERS]

    async def view(
        self, request: ApprovalRequest, *, for_approver: bool = False, notice: str | None = None, **kw: Any
    ) -> ApprovalView:
        return ApprovalView(
            request=request,
            approvers_label=await self.approvers_label(),
            for_approver=for_approver,
            notice=notice,
            **kw,
        )

    async def post(self, request: ApprovalRequest) -> bool:
        channel = await self.admin_channel()
        if channel is None:
            return False
        view = await self.view(request, approver_user_ids=await self.approver_user_ids(channel))
        try:
            activity_id = await self._messenger.send_card(channel, build_approval_card(view))
        except ConversationGoneError:
            log.warning("the admins' channel no longer has the bot; request %s waits", request.id)
            return False
        if activity_id:
            await self._storage.set_approval_cards(request.id, approval=(channel["conversation"]["id"], activity_id))
        return True

    async def refresh_everywhere(self, request: ApprovalRequest, notify: bool = False) -> None:
        latest = await self._storage.get_approval(request.id) or request
        channel = await self.admin_channel()
        if latest.approval_card_id and latest.approval_conversation_id and channel:
            current = stale_join(latest)
            view = await self.view(
                latest, approver_user_ids=await self.approver_user_ids(channel), current_join=current
            )
            await self._safely(self._messenger.update_card(channel, latest.approval_card_id, build_approval_card(view)))
        requester = await self._requester_reference(latest)
        if requester is not None:
            if latest.requester_card_id:
                card = build_request_status_card(await self.view(latest))
                await self._safely(self._messenger.update_card(requester, latest.requester_card_id, card))
            if notify:
                text = f"Your request {short_id(latest)} is now: {latest.state.label}."
                if latest.state is State.REJECTED:
                    text += f" Reason: {plain(latest.reason, TEXT_LIMIT)}"
                if latest.state is State.FAILED:
                    text += f" {plain(latest.error, TEXT_LIMIT)}"
                await self._safely(self._messenger.send_text(requester, text))

    async def remind(self, request: ApprovalRequest) -> None:
        """A day before a join window ends: the requester's card, with "Ask to extend"."""
        requester = await self._requester_reference(request)
        if requester is None:
            return
        ends = windows.ends_at(request)
        notice = (
            f"The join permission this request gave ends at {ends:%Y-%m-%d %H:%M} UTC: then I remove the package "
            "accounts it added. Still deploying? Ask to extend (an approver decides)."
        )
        card = build_request_status_card(await self.view(request, notice=notice))
        await self._safely(self._messenger.send_card(requester, card))

    async def window_closed(self, request: ApprovalRequest, outcome: str) -> None:
        """Say it in the admins' channel and to the requester: the window ended, and what was removed."""
        text = f"Request {short_id(request)}: the join window ended; {outcome}"
        channel = await self.admin_channel()
        if channel is not None:
            await self._safely(self._messenger.send_text(channel, text))
        requester = await self._requester_reference(request)
        if requester is not None and (channel is None or requester != channel):
            await self._safely(self._messenger.send_text(requester, text))

    async def _requester_reference(self, request: ApprovalRequest) -> dict[str, Any] | None:
        if not request.requester_conversation_id:
            return None
        record = await self._storage.get_conversation(request.requester_conversation_id)
        return record.reference if record else None

    async def _safely(self, work) -> None:
        try:
            await work
        except Exception:
            # The request's state is already stored and audited; a card that could not be updated is logged.
            log.exception("could not update a card or tell the requester")


def _join_of(policy: dict[str, Any]) -> JoinSetting | None:
    try:
        return PolicySnapshot.from_graph(policy).join
    except PolicyParseError:
        return None


def stale_join(request: ApprovalRequest) -> JoinSetting | None:
    """What the join setting is now, for a join plan that went stale (other kinds: None)."""
    return _join_of(request.policy_before) if request.state is State.STALE and request.policy_before else None
