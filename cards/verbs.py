"""Every card verb, defined once, with the typed payload its action carries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Verb(StrEnum):
    DIAGNOSIS_START = "diagnosis.start"
    DIAGNOSIS_STEP = "diagnosis.step"
    DIAGNOSIS_RECHECK = "diagnosis.recheck"
    APPROVAL_REQUEST = "approval.request"
    APPROVAL_VIEW = "approval.view"
    APPROVAL_APPROVE = "approval.approve"
    APPROVAL_REJECT = "approval.reject"
    APPROVAL_CANCEL = "approval.cancel"
    APPROVAL_RETRY = "approval.retry"
    APPROVAL_REPLAN = "approval.replan"
    APPROVAL_EXTEND = "approval.extend"
    APPROVAL_END = "approval.end"
    APPROVAL_ASK_EXTEND = "approval.ask_extend"
    APPROVAL_CHECK = "approval.check"
    ALERT_ACK = "alert.ack"
    ALERT_DIAGNOSE = "alert.diagnose"
    PACKAGE_REQUEST = "package.request"
    DIAGNOSIS_MDM_SCOPE = "diagnosis.mdm_scope"
    TENANT_CHECK = "tenant.check"
    TENANT_REMOVE = "tenant.remove"


Step = Literal["settings", "join", "verify"]
STEPS: tuple[Step, ...] = ("settings", "join", "verify")


TENANT_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Payload(BaseModel):
    # Clients merge input values into `data`, so unknown keys are ignored; missing or mistyped ones
    # mean "not one of our cards" and the action is refused.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # The tenant the card was about, stamped on every action when the deployment serves several (cards/tenancy.py).
    # Never trusted alone: a record the action names has its own tenant, and the conversation must act on it.
    tenant: str | None = Field(default=None, pattern=TENANT_ID)


class StartDiagnosis(Payload):
    """Start (or, from a "checking" card whose answer never came, start again) with what the message said."""

    error_codes: tuple[Annotated[str, Field(pattern=r"^0x[0-9a-f]{8}$")], ...] = Field(
        default=(), alias="errorCodes", max_length=10
    )
    package_guids: tuple[Annotated[str, Field(pattern=r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")], ...] = Field(
        default=(), alias="packageGuids", max_length=10
    )
    device_name: str | None = Field(default=None, alias="deviceName", max_length=100)
    # The session the first card stood for: stored just after it was sent, so it holds what the card cannot carry
    # (the clues from the device's logs); the codes above are used when it was never stored.
    session_id: str | None = Field(default=None, alias="sessionId", min_length=1, max_length=64)


class ShowStep(Payload):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=64)
    step: Step


class Recheck(Payload):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=64)


class CheckMdmScope(Payload):
    """ "Sign in to check the MDM user scope": Graph serves it to a signed-in admin only, never to the app."""

    session_id: str = Field(alias="sessionId", min_length=1, max_length=64)


class RequestApproval(Payload):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=64)
    # "minimal" / "all": the join permission; "ca:<policy id>": exclude from that Conditional Access policy
    # "restriction:<id>": allow Windows in that enrollment restriction
    option: str = Field(
        default="minimal", pattern=r"^(minimal|all|ca:[0-9A-Za-z-]{1,64}|restriction:[0-9A-Za-z_-]{1,100})$"
    )
    justification: str | None = Field(default=None, max_length=1000)
    # How long the change should last (the card's choice): "permanent" or a duration like "7d"; the operator's
    # JOIN_WINDOWS decide which are accepted.
    window: str | None = Field(default=None, pattern=r"^(permanent|[0-9]{1,4}[mhd])$")


class OnRequest(Payload):
    """Names a request; who acts comes from the activity, never from here."""

    request_id: str = Field(alias="requestId", min_length=1, max_length=64)


class ViewRequest(OnRequest):
    pass


class Approve(OnRequest):
    pass


class Reject(OnRequest):
    reason: str | None = Field(default=None, max_length=1000)


class Cancel(OnRequest):
    pass


class Retry(OnRequest):
    pass


class Replan(OnRequest):
    pass


class ExtendWindow(OnRequest):
    """An approver extends a time-bound join permission by its window."""


class EndWindow(OnRequest):
    """An approver ends a time-bound join permission now."""


class AskToExtend(OnRequest):
    """The requester asks the approvers to extend the window."""


class CheckTenant(OnRequest):
    """ "Check my tenant again" on a request card: a new diagnosis card below; the request card stays."""


class OnAlert(Payload):
    """Names an alert (its incident); who acts comes from the activity."""

    incident_id: str = Field(alias="incidentId", pattern=r"^[0-9A-Za-z_.:-]{1,80}$")


class Acknowledge(OnAlert):
    """ "I'm on it": the channel sees who took the alert."""


class DiagnoseAlert(OnAlert):
    """ "Diagnose now" on an alert: the diagnosis goes in a reply, the alert stays an alert."""


class RequestForPackage(Payload):
    """ "Request approval" on a new package account's card: the join permission for it, asked in the channel."""

    account_id: str = Field(alias="accountId", pattern=r"^[0-9A-Za-z-]{1,64}$")


class CheckConsent(Payload):
    """ "Check again" on a consent card, for when the consent page could not send the browser back to the bot: the
    tenant to connect comes from the card's input (its id or a verified domain), checked by the handler; who acts
    comes from the activity."""

    named: str | None = Field(default=None, alias="connectTenant", max_length=256)  # the card's input


class RemoveTenant(Payload):
    """The confirmation button of "remove tenant ...": names the tenant; who acts comes from the activity."""

    tenant_id: str = Field(alias="tenantId", pattern=r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


PAYLOADS: dict[Verb, type[Payload]] = {
    Verb.DIAGNOSIS_START: StartDiagnosis,
    Verb.DIAGNOSIS_STEP: ShowStep,
    Verb.DIAGNOSIS_RECHECK: Recheck,
    Verb.APPROVAL_REQUEST: RequestApproval,
    Verb.APPROVAL_VIEW: ViewRequest,
    Verb.APPROVAL_APPROVE: Approve,
    Verb.APPROVAL_REJECT: Reject,
    Verb.APPROVAL_CANCEL: Cancel,
    Verb.APPROVAL_RETRY: Retry,
    Verb.APPROVAL_REPLAN: Replan,
    Verb.APPROVAL_EXTEND: ExtendWindow,
    Verb.APPROVAL_END: EndWindow,
    Verb.APPROVAL_ASK_EXTEND: AskToExtend,
    Verb.APPROVAL_CHECK: CheckTenant,
    Verb.ALERT_ACK: Acknowledge,
    Verb.ALERT_DIAGNOSE: DiagnoseAlert,
    Verb.PACKAGE_REQUEST: RequestForPackage,
    Verb.DIAGNOSIS_MDM_SCOPE: CheckMdmScope,
    Verb.TENANT_CHECK: CheckConsent,
    Verb.TENANT_REMOVE: RemoveTenant,
}


def action_data(payload: Payload) -> dict[str, Any]:
    return payload.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")


def parse_action(verb: Any, data: Any) -> Payload | None:
    """The typed payload for a card action, or None when it is not one of ours (malformed, stale, forged)."""
    try:
        known = Verb(verb)
    except ValueError:
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None
    try:
        return PAYLOADS[known].model_validate(data)
    except ValidationError:
        return None


def verb_of(payload: Payload) -> Verb:
    return next(verb for verb, model in PAYLOADS.items() if type(payload) is model)
