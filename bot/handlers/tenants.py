"""The tenant registry from Teams: "connect a tenant", "tenants", "use tenant ... here", "stop using a tenant here",
"remove tenant ...", and the buttons of their cards. Only the deployment's approvers may do any of it."""

from __future__ import annotations

from typing import Any

from bot.approvals import ApprovalService
from bot.domain.recognizer import Recognition
from bot.errors import BotError
from bot.handlers.context import Turn
from bot.proactive import channel_base_id
from bot.tenants.connect import GENERIC, Asker, ConnectError, TenantConnector, parse_tenant
from bot.tenants.registry import SHARED, TenantRecord
from bot.tenants.runtime import Tenants
from cards.approval import build_notice_card
from cards.common import plain
from cards.tenants import (
    TenantRow,
    build_consent_card,
    build_remove_tenant_card,
    build_tenants_card,
    connected_message,
)
from cards.verbs import CheckConsent, RemoveTenant

NOT_SET_UP = "This deployment serves one tenant: the tenant registry is not set up here."


def _registry(turn: Turn) -> tuple[Tenants, TenantConnector]:
    tenants, connector = turn.deps.tenants, turn.deps.connector
    if tenants is None or connector is None:
        raise BotError(NOT_SET_UP)
    return tenants, connector


def _home_approvals(turn: Turn) -> ApprovalService:
    """The deployment's approvers decide which tenants it serves, whichever tenant the turn is about."""
    tenants = turn.deps.tenants
    return tenants.deps_for(tenants.home_id).approvals if tenants is not None else turn.deps.approvals


async def _refusal(turn: Turn) -> str | None:
    approvals = _home_approvals(turn)
    if await approvals.is_approver(turn.user_id):
        return None
    return f"Only {await approvals.approvers_label()} can connect, bind or remove tenants."


def _find(tenants: Tenants, named: str) -> TenantRecord | None:
    value = named.strip().lower()
    for record in tenants.records():
        if value == record.tenant_id or value in record.domains:
            return record
    return None


async def _rows(turn: Turn, tenants: Tenants) -> list[TenantRow]:
    bound = list((await turn.deps.storage.channel_bindings()).values())
    return [
        TenantRow(
            tenant_id=r.tenant_id,
            name=r.display_name,
            domains=r.domains,
            channels=bound.count(r.tenant_id),
            home=r.home,
            own_credential=r.credential != SHARED,
            connected_by=r.connected_by,
            connected_at=r.connected_at,
        )
        for r in tenants.records()
    ]


async def _audit(turn: Turn, action: str, tenant_id: str, **data: Any) -> None:
    _, connector = _registry(turn)
    await connector.record(action, tenant_id, turn.user_id, turn.user_name, **data)


# ---- chat commands ----------------------------------------------------------------------------------------
async def connect_tenant(turn: Turn, recognition: Recognition) -> None:
    """The admin-consent link, bound to this person and this conversation."""
    _, connector = _registry(turn)
    refused = await _refusal(turn) or connector.why_not()
    if refused:
        await turn.context.send_activity(refused)
        return
    try:
        tenant = parse_tenant(recognition.argument) if recognition.argument else None
    except ConnectError as exc:
        await turn.context.send_activity(plain(exc.message, 300))
        return
    asker = Asker(turn.user_id, turn.user_name, turn.conversation_id, turn.reference())
    link = await connector.begin(asker, tenant or GENERIC)
    await turn.send_card(build_consent_card(link.url, link.expires_at, tenant))


async def list_tenants(turn: Turn, recognition: Recognition) -> None:
    tenants, _ = _registry(turn)
    refused = await _refusal(turn)
    if refused:
        await turn.context.send_activity(refused)
        return
    await turn.send_card(build_tenants_card(await _rows(turn, tenants)))


async def use_tenant(turn: Turn, recognition: Recognition) -> None:
    tenants, _ = _registry(turn)
    refused = await _refusal(turn)
    if refused:
        await turn.context.send_activity(refused)
        return
    record = _find(tenants, recognition.argument or "")
    if record is None:
        named = plain(recognition.argument or "", 100)
        await turn.context.send_activity(f"I serve no tenant {named}. Say **tenants** for the ones I serve.")
        return
    here = channel_base_id(turn.conversation_id)
    await turn.deps.storage.bind_channel(here, record.tenant_id, turn.user_name, turn.deps.clock.now())
    await _audit(turn, "tenant_bound", record.tenant_id, conversationId=here)
    await turn.context.send_activity(
        f"This {_where(turn)} is now about {plain(record.label(), 200)}: what is asked here without naming a package "
        "account's domain is diagnosed there. Say **stop using a tenant here** to undo."
    )


async def stop_tenant(turn: Turn, recognition: Recognition) -> None:
    tenants, _ = _registry(turn)
    refused = await _refusal(turn)
    if refused:
        await turn.context.send_activity(refused)
        return
    here = channel_base_id(turn.conversation_id)
    bound = await turn.deps.storage.channel_tenant(here)
    if bound is None:
        await turn.context.send_activity(f"This {_where(turn)} is not bound to a tenant.")
        return
    await turn.deps.storage.bind_channel(here, None, turn.user_name, turn.deps.clock.now())
    await _audit(turn, "tenant_unbound", bound, conversationId=here)
    record = tenants.record(bound)
    name = plain(record.label(), 200) if record else bound
    await turn.context.send_activity(f"This {_where(turn)} is no longer bound to {name}.")


async def remove_tenant(turn: Turn, recognition: Recognition) -> None:
    """Asks first: the card's Remove button does it."""
    tenants, _ = _registry(turn)
    refused = await _refusal(turn)
    if refused:
        await turn.context.send_activity(refused)
        return
    record = _find(tenants, recognition.argument or "")
    if record is None:
        named = plain(recognition.argument or "", 100)
        await turn.context.send_activity(f"I serve no tenant {named}. Say **tenants** for the ones I serve.")
        return
    if record.home:
        await turn.context.send_activity("This deployment's own tenant (GRAPH_TENANT_ID) cannot be removed.")
        return
    row = next(r for r in await _rows(turn, tenants) if r.tenant_id == record.tenant_id)
    await turn.send_card(build_remove_tenant_card(row))


def _where(turn: Turn) -> str:
    return {"channel": "channel", "groupChat": "chat"}.get(turn.conversation_type, "chat")


# ---- card buttons ----------------------------------------------------------------------------------------
async def check_consent(turn: Turn, payload: CheckConsent) -> dict[str, Any]:
    """ "Check again": the consent page could not come back to the bot; the tenant is typed on the card."""
    _, connector = _registry(turn)
    refused = await _refusal(turn)
    if refused:
        return build_notice_card("Not allowed", refused)
    why = connector.why_not(redirect=False)  # checking needs the app, not the way back from the consent page
    if why:
        return build_notice_card("Cannot connect tenants", why)
    if not (payload.named or "").strip():
        return build_consent_card(None, None, problem="Type the tenant's id or one of its verified domains first.")
    try:
        typed = parse_tenant(payload.named or "")
    except ConnectError as exc:
        return build_consent_card(None, None, problem=exc.message)  # not echoed into the input: not a name
    try:
        tenant_id = await connector.resolve(typed)
        record = await connector.connect(
            TenantRecord(tenant_id=tenant_id, display_name=""), by=turn.user_name, by_id=turn.user_id
        )
    except ConnectError as exc:
        return build_consent_card(None, None, typed, problem=exc.message)
    return build_notice_card(
        f"Connected {plain(record.display_name)}", connected_message(record.display_name, record.domains)
    )


async def confirm_remove(turn: Turn, payload: RemoveTenant) -> dict[str, Any]:
    tenants, _ = _registry(turn)
    refused = await _refusal(turn)
    if refused:
        return build_notice_card("Not allowed", refused)
    record = tenants.record(payload.tenant_id)
    if record is None:
        return build_notice_card("Already removed", "I no longer serve this tenant.")
    try:
        removed = await tenants.remove(record.tenant_id)
    except BotError as exc:
        return build_notice_card("Not removed", plain(str(exc), 300))
    if removed:
        await _audit(turn, "tenant_removed", record.tenant_id, displayName=record.display_name)
    title = f"Removed {plain(record.display_name)}" if removed else "Already removed"
    return build_notice_card(
        title,
        "I no longer serve this tenant: its channels are unbound and its alerts stopped. Its admins can remove the "
        "app's consent in Entra (Enterprise applications).",
    )


__all__ = [
    "check_consent",
    "confirm_remove",
    "connect_tenant",
    "list_tenants",
    "remove_tenant",
    "stop_tenant",
    "use_tenant",
]
