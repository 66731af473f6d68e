"""Which tenant a turn acts on: resolved once at the edge of each message and each card press."""

from __future__ import annotations

import logging

from bot.domain.recognizer import Intent, Recognition
from bot.domain.tenancy import Resolution, Where, may_act_on, resolve
from bot.handlers.context import Turn
from bot.proactive import card_message, channel_base_id
from cards.tenancy import build_which_tenant_card
from cards.verbs import OnRequest, Payload

log = logging.getLogger(__name__)

NOT_HERE = "This card is about a tenant this conversation does not act on. Nothing was changed."
GONE = "This card is about a tenant I no longer serve (it was removed). Nothing was changed."


async def where(turn: Turn) -> Where:
    tenants = turn.deps.tenants
    bound = None
    if tenants is not None and tenants.many:
        bound = await tenants.storage.channel_tenant(channel_base_id(turn.conversation_id))
    return Where(user_tenant=turn.tenant_id.lower(), bound=bound)


def start(turn: Turn) -> None:
    """Before anything else: a person in a customer's own Teams acts on that tenant only."""
    tenants = turn.deps.tenants
    own = turn.tenant_id.lower()
    if tenants is not None and own != tenants.home_id and tenants.serves(own):
        turn.use(own)


async def settle_message(turn: Turn, recognition: Recognition, text: str) -> bool:
    """Decide the tenant a message is about and switch the turn to it; else answer (the question, or why not)
    and return False."""
    tenants = turn.deps.tenants
    if tenants is None or not tenants.many:
        return True
    here = await where(turn)
    labels = {r.tenant_id: r.label() for r in tenants.records()}
    found: Resolution = resolve(
        text, here, tenants.home_id, [r.tenant_id for r in tenants.records()], tenants.domains(), labels
    )
    if found.tenant_id is not None:
        turn.use(found.tenant_id)
        log.info("activity %s: tenant %s (%s)", turn.activity.id, found.tenant_id, found.why)
        return True
    if found.refusal is not None:
        await turn.context.send_activity(found.refusal)
        return False
    if recognition.intent is not Intent.DIAGNOSE:
        names = ", ".join(labels[t] for t in found.ask)
        await turn.context.send_activity(
            f'I serve several tenants here ({names}): say "use tenant <domain> here" to bind this conversation to '
            "one, then ask again."
        )
        return False
    card = build_which_tenant_card(
        [(t, labels[t]) for t in found.ask], recognition.error_codes, recognition.package_guids, recognition.device_name
    )
    await turn.context.send_activity(card_message(card))
    return False


async def settle_press(turn: Turn, payload: Payload) -> str | None:
    """The tenant a card press acts on, the turn switched to it; or why the press is refused. The tenant comes
    from the record the action names (a session, a request), else from the card's stamp; either way this
    conversation must act on it, and a stamp that contradicts the record is a forgery."""
    tenants = turn.deps.tenants
    if tenants is None:
        return None
    storage = tenants.storage
    named: str | None = None
    session_id = getattr(payload, "session_id", None)
    if isinstance(session_id, str):
        session = await storage.get_session(session_id)
        named = session.tenant_id.lower() if session is not None else None
    elif isinstance(payload, OnRequest):
        request = await storage.get_approval(payload.request_id)
        named = request.tenant_id.lower() if request is not None else None
    stamp = payload.tenant.lower() if payload.tenant else None
    if named is not None and stamp is not None and stamp != named:
        log.warning("activity %s: refused a press stamped %s for a record of %s", turn.activity.id, stamp, named)
        return NOT_HERE
    tenant = named or stamp
    if tenant is None:
        # Unstamped and naming no record (an older card, or a record that is gone): where the turn already is.
        return None
    if not tenants.serves(tenant):
        return GONE
    if not may_act_on(await where(turn), tenant, tenants.home_id):
        log.warning("activity %s: refused a press on tenant %s from %s", turn.activity.id, tenant, turn.tenant_id)
        return NOT_HERE
    turn.use(tenant)
    return None
