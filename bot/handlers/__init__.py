"""The routing tables: one handler per chat intent and one per card verb, each declared once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain.recognizer import Intent, Recognition
from bot.handlers import alerts, approval, diagnosis, help, tenants
from bot.handlers.context import Turn
from cards.verbs import Verb

IntentHandler = Callable[[Turn, Recognition], Awaitable[None]]
VerbHandler = Callable[[Turn, Any], Awaitable[dict[str, Any]]]

INTENT_HANDLERS: dict[Intent, IntentHandler] = {
    Intent.DIAGNOSE: diagnosis.run_diagnosis,
    Intent.HELP: help.show_help,
    Intent.UNKNOWN: help.not_understood,
    Intent.ELSEWHERE: help.elsewhere,
    Intent.SMALL_TALK: help.small_talk,
    Intent.FOLLOW_UP: help.follow_up,
    Intent.STATUS: approval.status,
    Intent.ALERTS_ON: alerts.alerts_on,
    Intent.ALERTS_OFF: alerts.alerts_off,
    Intent.AUDIT: approval.audit,
    Intent.USE_CHANNEL: approval.use_channel,
    Intent.CONNECT_TENANT: tenants.connect_tenant,
    Intent.TENANTS: tenants.list_tenants,
    Intent.USE_TENANT: tenants.use_tenant,
    Intent.STOP_TENANT: tenants.stop_tenant,
    Intent.REMOVE_TENANT: tenants.remove_tenant,
}

# Intents about one tenant: with several served, the message is settled on one first (bot/handlers/tenancy.py).
# A diagnosis settles its own, from what the message or the photo said.
TENANT_INTENTS = frozenset({Intent.STATUS, Intent.ALERTS_ON, Intent.ALERTS_OFF, Intent.AUDIT, Intent.USE_CHANNEL})

VERB_HANDLERS: dict[Verb, VerbHandler] = {
    Verb.DIAGNOSIS_START: diagnosis.start_from_card,
    Verb.DIAGNOSIS_STEP: diagnosis.show_step,
    Verb.DIAGNOSIS_RECHECK: diagnosis.recheck,
    Verb.APPROVAL_REQUEST: diagnosis.request_approval,
    Verb.APPROVAL_VIEW: approval.view,
    Verb.APPROVAL_APPROVE: approval.approve,
    Verb.APPROVAL_REJECT: approval.reject,
    Verb.APPROVAL_CANCEL: approval.cancel,
    Verb.APPROVAL_RETRY: approval.retry,
    Verb.APPROVAL_REPLAN: approval.replan,
    Verb.APPROVAL_EXTEND: approval.extend_window,
    Verb.APPROVAL_END: approval.end_window,
    Verb.APPROVAL_ASK_EXTEND: approval.ask_to_extend,
    Verb.APPROVAL_CHECK: approval.check_tenant,
    Verb.ALERT_ACK: alerts.take,
    Verb.ALERT_DIAGNOSE: alerts.diagnose,
    Verb.PACKAGE_REQUEST: diagnosis.request_for_package,
    Verb.DIAGNOSIS_MDM_SCOPE: diagnosis.check_mdm_scope,
    Verb.TENANT_CHECK: tenants.check_consent,
    Verb.TENANT_REMOVE: tenants.confirm_remove,
}
