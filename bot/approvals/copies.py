"""Every message a request is shown in, and keeping each one a view of the request as it stands now.

A request's copies are stored with it (conversation, activity id, viewer role: the approvers' card in the admins'
channel, an extension post in its thread, the requester's card, the cards of others who asked for the same change).
After every transition `refresh_everywhere` renders each copy again from (state, role); news (applied, a reminder,
the end) is a short new message in reply to a copy, whose first line says it. This module only shows: the workflow
(`bot.approvals.service`) decides."""

from __future__ import annotations

import logging
from typing import Any

from bot.clock import Clock
from bot.domain.approval import ApprovalRequest, State
from bot.domain.lifecycle import CardCopy, Role
from bot.domain.model import JoinSetting, PolicyParseError, PolicySnapshot
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.proactive import ConversationGoneError, Messenger, channel_base_id
from bot.settings import Settings
from bot.storage import Storage
from cards.approval import ApprovalView, render
from cards.common import plain

log = logging.getLogger(__name__)

CHANNEL_SETTING = "approval_channel"
MAX_REFRESH_USERS = 60
APPROVER_SIDE = (Role.APPROVERS, Role.EXTENSION)


class Copies:
    def __init__(
        self,
        settings: Settings,
        graph: GraphGateway,
        storage: Storage,
        messenger: Messenger,
        clock: Clock,
        people_tenant: str | None = None,
    ):
        """`graph` is the approvers' directory; `people_tenant` the Teams tenant the admins' channel is in (the
        deployment's own, for a customer tenant whose approvers are the operator's people)."""
        self._settings = settings
        self._people_tenant = people_tenant or settings.tenant_id
        self._graph = graph
        self._storage = storage
        self._messenger = messenger
        self._clock = clock
        self._group_name: str | None = None

    # ---- who approves, and where ----------------------------------------------------------------
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
        known = await self._storage.latest_conversation(self._people_tenant)
        if known is None:
            return None
        reference = dict(known.reference)
        reference["conversation"] = {
            "id": channel_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": self._people_tenant,
        }
        return reference

    async def approver_user_ids(self, channel: dict[str, Any] | None) -> tuple[str, ...]:
        """Teams ids of the channel's members who are approvers: they get the approver view on refresh."""
        if channel is None:
            return ()
        try:
            members = await self._messenger.member_ids(channel)
            approvers = set(self._settings.approver_user_ids)
            if self._settings.approver_group_id:
                approvers |= await self._graph.group_member_ids(self._settings.approver_group_id)
        except (GraphError, ConversationGoneError) as exc:
            log.warning("could not list the approvers in the admins' channel: %s", exc)
            return ()
        return tuple(mri for aad, mri in members.items() if aad in approvers)[:MAX_REFRESH_USERS]

    # ---- views ----------------------------------------------------------------------------------
    async def view(
        self, request: ApprovalRequest, role: Role, *, for_approver: bool = False, notice: str | None = None, **kw: Any
    ) -> ApprovalView:
        return ApprovalView(
            request=request,
            approvers_label=await self.approvers_label(),
            for_approver=for_approver,
            notice=notice,
            current_join=stale_join(request),
            role=role,
            **kw,
        )

    async def card(self, request: ApprovalRequest, role: Role, **kw: Any) -> dict[str, Any]:
        return render(await self.view(request, role, **kw))

    # ---- the copies -----------------------------------------------------------------------------
    async def of(self, request: ApprovalRequest) -> list[CardCopy]:
        """Every copy: those stored, and (for a request made before copies were stored) its two card columns."""
        copies = await self._storage.list_approval_copies(request.id)
        known = {(c.conversation_id, c.activity_id) for c in copies}
        legacy = (
            (request.approval_conversation_id, request.approval_card_id, Role.APPROVERS),
            (request.requester_conversation_id, request.requester_card_id, Role.REQUESTER),
        )
        for conversation, activity, role in legacy:
            if conversation and activity and (channel_base_id(conversation), activity) not in known:
                copies.append(CardCopy(request.id, channel_base_id(conversation), activity, role))
        return copies

    async def register(self, request: ApprovalRequest, conversation_id: str, activity_id: str, role: Role) -> None:
        conversation_id = channel_base_id(conversation_id)
        await self._storage.add_approval_copy(
            CardCopy(request.id, conversation_id, activity_id, role, self._clock.now())
        )
        # Where the request is acted on from, for the approvers and the requester (the first copy of each).
        if role is Role.APPROVERS and not request.approval_card_id:
            await self._storage.set_approval_cards(request.id, approval=(conversation_id, activity_id))
        if role is Role.REQUESTER and not request.requester_card_id:
            await self._storage.set_approval_cards(request.id, requester=(conversation_id, activity_id))

    async def roles_in(self, request: ApprovalRequest, conversation_id: str) -> dict[str, Role]:
        """The copies of the request in one conversation: activity id -> role."""
        here = channel_base_id(conversation_id)
        return {c.activity_id: c.role for c in await self.of(request) if c.conversation_id == here}

    async def post_to_channel(self, request: ApprovalRequest) -> bool:
        """The approvers' copy, posted in the admins' channel; False if there is none (the request waits)."""
        channel = await self.admin_channel()
        if channel is None:
            return False
        card = await self.card(request, Role.APPROVERS, approver_user_ids=await self.approver_user_ids(channel))
        try:
            activity_id = await self._messenger.send_card(channel, card)
        except ConversationGoneError:
            log.warning("the admins' channel no longer has the bot; request %s waits", request.id)
            return False
        if activity_id:
            await self.register(request, channel["conversation"]["id"], activity_id, Role.APPROVERS)
        return True

    async def send_copy(self, request: ApprovalRequest, conversation_id: str, role: Role) -> str | None:
        """A new copy of the request's card in a person's conversation (a new message: nothing is replaced); in
        a channel thread, in that thread."""
        reference = await self._reference(conversation_id)
        if reference is None:
            return None
        thread = conversation_id.split(";messageid=", 1)[1] if ";messageid=" in conversation_id else None
        card = await self.card(request, role)
        activity_id = await self._messenger.send_card(reference, card, reply_to=thread)
        if activity_id:
            await self.register(request, conversation_id, activity_id, role)
        return activity_id

    async def post_extension(self, request: ApprovalRequest) -> None:
        """An extension asked for: a new post in the approval card's thread, its Extend visible to approvers."""
        channel = await self.admin_channel()
        root = request.approval_card_id
        if channel is None or not root:
            return
        card = await self.card(request, Role.EXTENSION, approver_user_ids=await self.approver_user_ids(channel))
        activity_id = await self._safely(self._messenger.send_card(channel, card, reply_to=root))
        if activity_id:
            await self.register(request, channel["conversation"]["id"], activity_id, Role.EXTENSION)

    async def refresh_everywhere(self, request: ApprovalRequest) -> None:
        """Render every copy again from the request as stored now, each for its role."""
        latest = await self._storage.get_approval(request.id) or request
        channel = await self.admin_channel()
        mris = await self.approver_user_ids(channel) if channel else ()
        cards: dict[Role, dict[str, Any]] = {}
        for copy in await self.of(latest):
            if copy.role not in cards:
                extra = {"approver_user_ids": mris} if copy.role in APPROVER_SIDE else {}
                cards[copy.role] = await self.card(latest, copy.role, **extra)
            reference = await self._reference(copy.conversation_id)
            if reference is not None:
                await self._safely(self._messenger.update_card(reference, copy.activity_id, cards[copy.role]))

    async def tell(self, request: ApprovalRequest, news: str, *, roles: tuple[Role, ...]) -> None:
        """News as a short new message in reply to the request's card, once per conversation, for these roles."""
        told: set[str] = set()
        for copy in await self.of(request):
            if copy.role not in roles or copy.conversation_id in told:
                continue
            reference = await self._reference(copy.conversation_id)
            if reference is None:
                continue
            told.add(copy.conversation_id)
            await self._safely(self._messenger.send_text(reference, news, reply_to=copy.activity_id))

    async def _reference(self, conversation_id: str) -> dict[str, Any] | None:
        record = await self._storage.get_conversation(channel_base_id(conversation_id))
        if record is not None:
            return record.reference
        channel = await self.admin_channel()
        if channel and channel_base_id(channel["conversation"]["id"]) == channel_base_id(conversation_id):
            return channel
        return None

    async def _safely(self, work) -> Any:
        try:
            return await work
        except Exception:
            # The request's state is already stored and audited; a card that could not be updated is logged.
            log.exception("could not update a card of a request or send its news")
            return None


def _join_of(policy: dict[str, Any]) -> JoinSetting | None:
    try:
        return PolicySnapshot.from_graph(policy).join
    except PolicyParseError:
        return None


def stale_join(request: ApprovalRequest) -> JoinSetting | None:
    """What the join setting is now, for a join plan that went stale (other kinds: None)."""
    return _join_of(request.policy_before) if request.state is State.STALE and request.policy_before else None
