"""Handlers of the diagnostic flow: start it from chat, move between steps, check again."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bot.changes import kind_of
from bot.deps import Deps
from bot.doctor import recent_bulk_failures
from bot.domain.approval import ApprovalRequest, State
from bot.domain.causes import MdmScope
from bot.domain.clues import Clue, CodeClue
from bot.domain.evidence_age import OldEvidence, old_evidence
from bot.domain.recognizer import Recognition, extract_error_codes
from bot.errors import GraphError
from bot.handlers import tenancy
from bot.handlers.context import Turn
from bot.handlers.later import answer_later, follow_up
from bot.proactive import channel_base_id
from bot.storage import DiagnosisSession
from cards.diagnosis import (
    STEP_BUILDERS,
    Clues,
    DiagnosisView,
    RequestNote,
    build_checking_card,
    build_out_of_date_card,
)
from cards.verbs import CheckMdmScope, Recheck, RequestApproval, RequestForPackage, ShowStep, StartDiagnosis

log = logging.getLogger(__name__)

INTUNE_EVENTS = "Intune's troubleshooting events"

APPROVALS_NOT_SET_UP = (
    "Approvals are not set up (no APPROVER_GROUP_ID or APPROVER_USER_IDS), so I cannot ask an admin to make "
    "this change for you. An admin with the "
    "Cloud Device Administrator role can make exactly the change above in the portal: Entra ID > Devices > "
    "Device settings > Users may join devices to Microsoft Entra ID > Selected > add the package accounts."
)


def _session_for(turn: Turn, clues: Clues) -> DiagnosisSession:
    now = turn.deps.clock.now()
    return DiagnosisSession(
        id=uuid.uuid4().hex,
        tenant_id=turn.acting_tenant,
        conversation_id=turn.conversation_id,
        user_id=turn.user_id,
        user_name=turn.user_name,
        created_at=now,
        updated_at=now,
        step="settings",
        error_codes=clues.error_codes,
        package_guids=clues.package_guids,
        device_name=clues.device_name,
        log_clues=clues.log_clues,
    )


async def _new_session(turn: Turn, clues: Clues) -> DiagnosisSession:
    session = _session_for(turn, clues)
    await turn.deps.storage.create_session(session)
    return session


def _clues(session: DiagnosisSession) -> Clues:
    """What the session holds, the device's log clues included: a card or check made from a stored session loses
    nothing the logs showed."""
    return Clues(session.error_codes, session.package_guids, session.device_name, log_clues=session.log_clues)


async def _view(
    deps: Deps,
    session: DiagnosisSession,
    step: str,
    notice: str | None = None,
    *,
    fresh: bool = False,
    mdm_scope: MdmScope | None = None,
) -> DiagnosisView:
    events: tuple = ()
    events_error = None
    if step == "verify":
        try:
            events = tuple(await recent_bulk_failures(deps.graph))
        except GraphError as exc:
            # The check itself succeeded; only the event list is missing, and the card says why.
            events_error = f"Could not read troubleshooting events: {exc.message}"
    # Device-side causes come from the paste, the device's event logs (where and when each code was seen) and, on
    # the verify step, from the devices' own failure reports.
    clues: tuple[str | Clue, ...] = (
        *session.error_codes,
        *session.log_clues,
        *(CodeClue(c, INTUNE_EVENTS, e.time) for e in events for c in extract_error_codes(e.failure_reason)),
    )
    reading = await deps.readings.diagnose(session.package_guids, clues, fresh=fresh, mdm_scope=mdm_scope)
    request = await _request_for_the_fix(deps, session) if step == "verify" else None
    old = await _old_evidence(deps, session)
    plan = reading.diagnosis.plan
    plan_json = plan.to_json() if plan else None
    await deps.storage.update_session(session.id, step=step, plan=plan_json, now=deps.clock.now())
    return DiagnosisView(
        session_id=session.id,
        diagnosis=reading.diagnosis,
        names=reading.names,
        clues=_clues(session),
        notice=notice,
        events=events,
        events_error=events_error,
        windows=deps.settings.join_windows if deps.settings.apply_as == "app" else (),  # approver: no timed ends
        window_default=deps.settings.join_window_default,
        mdm_sign_in=deps.signin is not None and not reading.mdm_scope_read,
        request=request,
        old_evidence=old,
    )


async def _old_evidence(deps: Deps, session: DiagnosisSession) -> OldEvidence | None:
    """The device's logs' age when it matters: from days ago, or from before a change applied in this tenant."""
    times = [c.at for c in session.log_clues]
    if not any(times):
        return None
    applied = [
        (r.decided_at, _change_name(r))
        for r in await deps.storage.list_approvals([State.APPLIED])
        if r.tenant_id == session.tenant_id and r.decided_at is not None
    ]
    return old_evidence(times, deps.clock.now(), applied)


def _change_name(request: ApprovalRequest) -> str:
    """ "Join permission for 2 package accounts, asked by Adele Vance", raw (the card escapes it)."""
    count = len(request.plan.accounts)
    accounts = f" for {count} package account{'s' if count != 1 else ''}" if count else ""
    return f"{kind_of(request.plan).noun}{accounts}, asked by {request.requester_name}"


def _stage(state: State) -> str:
    if state is State.APPLIED:
        return "applied"
    return "ended" if state.is_final or state is State.FAILED else "on its way"


async def _request_for_the_fix(deps: Deps, session: DiagnosisSession) -> RequestNote | None:
    """The request made from this diagnosis (the latest), else one on its way for the join permission in this
    tenant, whoever asked: what the verify step leads to while the tenant is not fixed yet."""
    requests = await deps.storage.list_approvals(list(State))
    ours = [r for r in requests if r.session_id == session.id]
    on_its_way = [
        r
        for r in requests
        if r.tenant_id == session.tenant_id and _stage(r.state) == "on its way" and r.plan.kind == "join_permission"
    ]  # fmt: skip
    found = max(ours or on_its_way, key=lambda r: r.created_at, default=None)
    if found is None:
        return None
    return RequestNote(
        request_id=found.id,
        state=found.state.label,
        stage=_stage(found.state),
        asked_by=found.requester_name,
        asked_at=found.created_at,
        mine=found.session_id == session.id and found.requester_id == session.user_id,
    )


async def run_diagnosis(
    turn: Turn,
    recognition: Recognition,
    *,
    read_from: str | None = None,
    read_text: str = "",
    log_clues: tuple[Clue, ...] = (),
) -> None:
    """From chat (the message, or what was read from a photo or file sent in it): say at once what was
    recognised; the diagnosis replaces that card when Graph has answered."""
    if not await tenancy.settle_message(turn, recognition, read_text or recognition.text):
        return
    turn.deps.metrics.diagnoses.labels("chat").inc()
    if recognition.reason != "command":
        turn.deps.alerts.record_chat_report(turn.user_id)  # a person reported the error: a spike signal
    clues = Clues(
        recognition.error_codes, recognition.package_guids, recognition.device_name, read_from, read_text, log_clues
    )
    await _start(turn, clues)


async def start_in_reply(turn: Turn, clues: Clues, intro: str) -> None:
    """A diagnosis in a reply (to an alert): the intro and the checking card now, the first step in its place."""
    turn.deps.metrics.diagnoses.labels("alert").inc()
    await turn.context.send_activity(intro)
    await _start(turn, clues)


async def _start(turn: Turn, clues: Clues) -> None:
    """The checking card goes out before anything else, even the disk: the session is stored as the first step
    of the follow-up, and this card's "Check again" carries the clues should that never happen."""
    session = _session_for(turn, clues)
    card_id = await turn.send_card(build_checking_card(clues, None, storing=session.id))
    deps = turn.deps

    async def diagnose() -> dict[str, Any]:
        await deps.storage.create_session(session)
        return await _step_card(deps, session, "settings")

    follow_up(turn, card_id, diagnose)


async def _step_card(
    deps: Deps,
    session: DiagnosisSession,
    step: str,
    notice: str | None = None,
    *,
    fresh: bool = False,
    mdm_scope: MdmScope | None = None,
) -> dict[str, Any]:
    return STEP_BUILDERS[step](await _view(deps, session, step, notice, fresh=fresh, mdm_scope=mdm_scope))


def _checking(session: DiagnosisSession, step: str) -> dict[str, Any]:
    return build_checking_card(_clues(session), session.id, step)


async def _owned_session(turn: Turn, session_id: str) -> DiagnosisSession | None:
    session = await turn.deps.storage.get_session(session_id)
    if (
        session is None
        or channel_base_id(session.conversation_id) != channel_base_id(turn.conversation_id)
        or session.tenant_id != turn.acting_tenant
    ):
        return None
    return session


async def start_from_card(turn: Turn, payload: StartDiagnosis) -> dict[str, Any]:
    turn.deps.metrics.diagnoses.labels("card").inc()
    # "Check again" on a first card whose answer never came: its session, when it was stored, holds every clue
    # (the device's logs' too, which no card carries); else the card's own codes start a new one.
    stored = await _owned_session(turn, payload.session_id) if payload.session_id else None
    deps = turn.deps
    if stored is not None:
        return await answer_later(turn, _checking(stored, "settings"), lambda: _step_card(deps, stored, "settings"))
    session = await _new_session(turn, Clues(payload.error_codes, payload.package_guids, payload.device_name))
    return await answer_later(turn, _checking(session, "settings"), lambda: _step_card(deps, session, "settings"))


async def show_step(turn: Turn, payload: ShowStep) -> dict[str, Any]:
    session = await _owned_session(turn, payload.session_id)
    if session is None:
        return build_out_of_date_card("This diagnosis is not known in this conversation.")
    deps = turn.deps
    return await answer_later(turn, _checking(session, payload.step), lambda: _step_card(deps, session, payload.step))


async def recheck(turn: Turn, payload: Recheck) -> dict[str, Any]:
    session = await _owned_session(turn, payload.session_id)
    if session is None:
        return build_out_of_date_card("This diagnosis is not known in this conversation.")
    deps = turn.deps
    # "Check again" is a person asking for the tenant as it is now: never a reading finished before the press.
    return await answer_later(
        turn, _checking(session, "verify"), lambda: _step_card(deps, session, "verify", fresh=True)
    )


async def request_approval(turn: Turn, payload: RequestApproval) -> dict[str, Any]:
    session = await _owned_session(turn, payload.session_id)
    if session is None:
        return build_out_of_date_card("This diagnosis is not known in this conversation.")
    deps = turn.deps
    if not deps.approvals.configured:
        return await answer_later(
            turn, _checking(session, "join"), lambda: _step_card(deps, session, "join", notice=APPROVALS_NOT_SET_UP)
        )

    async def ask() -> dict[str, Any]:
        # The plan is made again from the tenant as it is now, never taken from the card.
        reading = await deps.readings.diagnose(session.package_guids, fresh=True)
        asked = await deps.approvals.request(
            turn.origin(), reading.diagnosis, session.id, payload.option, payload.justification, payload.window
        )
        if asked.card is not None:
            return asked.card
        # The diagnosis card stays the diagnosis (saying what became of the ask); the request has its own card.
        view = DiagnosisView(
            session_id=session.id,
            diagnosis=reading.diagnosis,
            names=reading.names,
            clues=_clues(session),
            notice=asked.notice,
            windows=deps.settings.join_windows,
            window_default=deps.settings.join_window_default,
        )
        return STEP_BUILDERS["join"](view)

    return await answer_later(turn, _checking(session, "join"), ask)


async def check_in_new_card(turn: Turn, session: DiagnosisSession | None) -> None:
    """Read the tenant again in a new card (the card pressed stays as it is): the verify step, for the same
    clues, in a session of this person and this conversation."""
    clues = _clues(session) if session is not None else Clues((), (), None)
    checking = _session_for(turn, clues)
    card_id = await turn.send_card(_checking(checking, "verify"))
    deps = turn.deps

    async def verify() -> dict[str, Any]:
        # A person asking for the tenant as it is now: never a reading finished before the press.
        await deps.storage.create_session(checking)
        return await _step_card(deps, checking, "verify", fresh=True)

    follow_up(turn, card_id, verify)


async def request_for_package(turn: Turn, payload: RequestForPackage) -> dict[str, Any]:
    """From a new package account's card: ask for exactly the change that lets it join, as this person."""
    deps = turn.deps
    if not deps.approvals.configured:
        return build_out_of_date_card(APPROVALS_NOT_SET_UP)
    accounts = {a.id: a for a in await deps.graph.list_package_accounts()}
    account = accounts.get(payload.account_id)
    if account is None or account.package_guid is None:
        return build_out_of_date_card("That package account no longer exists: nothing to request.")
    session = await _new_session(turn, Clues((), (account.package_guid,), None))

    async def ask() -> dict[str, Any]:
        reading = await deps.readings.diagnose(session.package_guids, fresh=True)
        why = f"New package account {account.user_principal_name}, noticed before any device failed."
        asked = await deps.approvals.request(
            turn.origin(), reading.diagnosis, session.id, "minimal", why, in_place=True
        )
        return asked.card or build_out_of_date_card(asked.notice)

    return await answer_later(turn, _checking(session, "join"), ask)


async def check_mdm_scope(turn: Turn, payload: CheckMdmScope) -> dict[str, Any]:
    """Read the MDM user scope with the person's own sign-in (Graph serves it to no app), and judge it with the
    rest. Their token serves that one read; the next card reads without it again."""
    session = await _owned_session(turn, payload.session_id)
    if session is None:
        return build_out_of_date_card("This diagnosis is not known in this conversation.")
    deps = turn.deps
    if deps.signin is None:
        return build_out_of_date_card(
            "Signing in is not set up here (APPLY_AS=approver and its OAuth connection): check the MDM user scope "
            "in the portal yourself."
        )
    token = await deps.signin.token_for(
        turn.sign_in_attempt(), "Sign in: Graph shows the MDM user scope only to a signed-in admin."
    )
    reader = deps.signin.graph_as(token, turn.sign_in_attempt())

    async def judged() -> dict[str, Any]:
        try:
            scope = await reader.mdm_user_scope()
        finally:
            await reader.close()  # the token is let go before the diagnosis
        return await _step_card(deps, session, "settings", mdm_scope=scope)

    try:
        return await answer_later(turn, _checking(session, "settings"), judged)
    except BaseException:
        await reader.close()  # the work was never scheduled
        raise
