"""The diagnostic flow's cards: one per resolution step, each showing what was read from the tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from bot.domain.clues import Clue
from bot.domain.diagnosis import (
    JOIN_SETTING_LABEL,
    PORTAL_PATH,
    AccountCounts,
    AccountStatus,
    Coverage,
    Diagnosis,
    FindingCode,
    JoinChangePlan,
    Severity,
    Standing,
    describe_join,
)
from bot.domain.evidence_age import OldEvidence
from bot.domain.lookalikes import Lookalike
from bot.domain.model import DirectoryNames, MembershipKind, TroubleshootingEvent
from bot.domain.recognizer import code_meaning
from bot.domain.windows import can_have_window
from cards.common import (
    CATEGORY_LABELS,
    TEXT_LIMIT,
    build_card,
    callout,
    details,
    execute,
    facts,
    heading,
    plain,
    short_account,
    show_all,
    text,
    window_label,
)
from cards.device_logs import old_evidence_blocks
from cards.verbs import CheckMdmScope, Recheck, RequestApproval, ShowStep, StartDiagnosis, ViewRequest

MAX_LISTED_ACCOUNTS = 12
MAX_LISTED_EVENTS = 6
MAX_OTHER_FIX_BUTTONS = 2
STEP_TITLES = {"settings": "Device settings", "join": "Join permissions", "verify": "Verify"}
# The mark is decoration; the word says it (emoji are never the only carrier of meaning).
SEVERITY_MARK = {
    Severity.BLOCKER: "\u26d4 Blocker:",
    Severity.WARNING: "\u26a0\ufe0f Warning:",
    Severity.OK: "\u2705 OK:",
}


READ_TEXT_LIMIT = 600  # characters of what was read from a photo or a file shown on a card


@dataclass(frozen=True)
class Clues:
    """What the person's message told us."""

    error_codes: tuple[str, ...] = ()
    package_guids: tuple[str, ...] = ()
    device_name: str | None = None
    read_from: str | None = None  # "the photo screen.jpg": the clues were read from an attachment
    read_text: str = ""  # what was read there, shown so a person can see a misread
    log_clues: tuple[Clue, ...] = ()  # codes and the clock read from the device's event logs, with where and when


@dataclass(frozen=True)
class RequestNote:
    """An approval request for this diagnosis's fix, as the verify step tells of it."""

    request_id: str
    state: str  # its state in words ("Waiting for approval")
    stage: str  # "on its way" (pending, approved, applying), "applied", or "ended" (rejected, failed, …)
    asked_by: str
    asked_at: datetime
    mine: bool  # asked by the person looking, from this diagnosis: "See request" can show it here


@dataclass(frozen=True)
class DiagnosisView:
    session_id: str
    diagnosis: Diagnosis
    names: DirectoryNames
    clues: Clues = Clues()
    approvals_enabled: bool = False
    notice: str | None = None
    events: tuple[TroubleshootingEvent, ...] = field(default=())
    events_error: str | None = None
    windows: tuple[str, ...] = ()  # how long an approved join permission may last (JOIN_WINDOWS)
    window_default: str = "permanent"
    mdm_sign_in: bool = False  # the MDM user scope went unread and a signed-in person could read it
    request: RequestNote | None = None  # verify: the request already made for the fix, if any
    old_evidence: OldEvidence | None = None  # the device's logs are from days ago, or from before the last change


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _name_list(ids: Sequence[str], names: DirectoryNames, limit: int = 8) -> str:
    shown = [short_account(names.name(i)) for i in ids[:limit]]  # package accounts short; others escaped
    more = len(ids) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "") if ids else "none"


def _step_header(step: str) -> list[ac.CardElement]:
    index = list(STEP_TITLES).index(step) + 1
    return heading(STEP_TITLES[step], f"Bulk enrollment diagnosis \u00b7 step {index} of 3")


def _footer(view: DiagnosisView) -> ac.CardElement:
    """When it was read; the Graph request id (for Microsoft support) only behind "Details", off the card's face."""
    read = f"From Microsoft Graph, {_when(view.diagnosis.checked_at)}"
    rid = view.diagnosis.policy.request_id
    if not rid:
        return text(read, size="Small", is_subtle=True, spacing="Medium")
    return details(read, [f"Graph request id: {plain(rid)}"], "graph-details")


def _findings(diagnosis: Diagnosis, skip: Sequence[FindingCode] = ()) -> list[ac.CardElement]:
    shown = [f for f in diagnosis.findings if f.code not in skip]
    if not shown:
        return []
    items: list[ac.CardElement] = [text("What I found", weight="Bolder", spacing="Medium")]
    for finding in shown:
        mark = SEVERITY_MARK[finding.severity]
        detail = plain(finding.detail, TEXT_LIMIT * 2)
        items.append(text(f"{mark} **{plain(finding.title)}**. {detail}", spacing="Small"))
        if finding.fix:
            where = f" ({plain(finding.portal)})" if finding.portal else ""
            items.append(text(f"Fix{where}: {plain(finding.fix, TEXT_LIMIT * 2)}", spacing="None", is_subtle=True))
    return items


def _clue_facts(clues: Clues) -> list[ac.CardElement]:
    pairs: list[tuple[str, str]] = []
    for code in clues.error_codes:
        pairs.append((code, code_meaning(code)))
    for guid in clues.package_guids:
        pairs.append(("Package account", short_account(f"package_{guid}")))
    if clues.device_name:
        pairs.append(("Device", plain(clues.device_name)))
    if not pairs:
        return []
    # Clues come from a message, an alert's failures or a new package account's card: said without claiming which.
    return [text("What I recognised", weight="Bolder", spacing="Medium"), facts(pairs)]


def read_text_blocks(read_from: str | None, read_text: str) -> list[ac.CardElement]:
    """What was read from a photo or a file, as read (escaped, capped), so a person can spot a misread."""
    if not read_from:
        return []
    return [
        text(f"Read from {plain(read_from)}:", weight="Bolder", spacing="Medium"),
        ac.Container(
            style="emphasis",
            items=[text(plain(read_text, READ_TEXT_LIMIT, multiline=True) or "(no text)", font_type="Monospace")],
            spacing="Small",
        ),
    ]


def _nav(view: DiagnosisView, back: str | None, forward: tuple[str, str] | None) -> list[ac.Action]:
    actions: list[ac.Action] = []
    if forward:
        actions.append(execute(forward[1], ShowStep(session_id=view.session_id, step=forward[0])))  # type: ignore[arg-type]
    if back:
        actions.append(execute(f"Back: {STEP_TITLES[back]}", ShowStep(session_id=view.session_id, step=back)))  # type: ignore[arg-type]
    return actions


def build_checking_card(
    clues: Clues, session_id: str | None, step: str = "settings", *, storing: str | None = None
) -> dict[str, Any]:
    """The first answer, before any Graph read: what was recognised, and that the tenant is being checked.
    The diagnosis replaces it in place; if that never comes (the bot restarted), "Check again" redoes it: a step
    of the stored session `session_id`, or a start from the session `storing` (being stored as this card goes
    out), with the clues on the card should it never have been stored."""
    recognised = bool(clues.error_codes or clues.package_guids or clues.device_name or clues.read_from)
    body: list[ac.CardElement] = [
        *heading("Checking your tenant\u2026", "Bulk enrollment diagnosis"),
        text(
            "I recognised a bulk enrollment failure." if recognised else "I am checking why bulk enrollment fails.",
        ),
        *read_text_blocks(clues.read_from, clues.read_text),
        *_clue_facts(clues),
        text(
            "I am reading the device registration policy and the package accounts through Microsoft Graph. "
            "This card updates itself with what I find.",
            size="Small",
            is_subtle=True,
            spacing="Medium",
        ),
    ]
    # A step button's session is stored; a pasted error's is stored just after this card, so its "Check
    # again" carries what was recognised and starts afresh from that.
    again = (
        ShowStep(session_id=session_id, step=step)  # type: ignore[arg-type]
        if session_id
        else StartDiagnosis(
            errorCodes=clues.error_codes,  # type: ignore[call-arg]
            packageGuids=clues.package_guids,
            deviceName=clues.device_name,
            sessionId=storing,
        )
    )
    return build_card(
        body,
        fallback_text="Checking your tenant for the bulk enrollment failure\u2026",
        actions=[execute("Check again", again)],
    )


def build_device_settings_card(view: DiagnosisView) -> dict[str, Any]:
    d = view.diagnosis
    join = d.join
    pairs = [(JOIN_SETTING_LABEL, describe_join(join))]
    if join.kind is MembershipKind.SELECTED:
        pairs.append(("Selected users", _name_list(join.users, view.names)))
        pairs.append(("Selected groups", _name_list(join.groups, view.names)))
    pairs.append(("Require MFA to register or join devices", "Yes" if d.policy.mfa_required else "No"))
    if d.policy.user_device_quota is not None:
        pairs.append(("Maximum number of devices per user", str(d.policy.user_device_quota)))
    pairs.append(("Where", PORTAL_PATH))
    body: list[ac.CardElement] = [
        *_step_header("settings"),
        text("This is your tenant's device registration policy as it stands now."),
        facts(pairs),
        *_clue_facts(view.clues),
        *old_evidence_blocks(view.old_evidence),
        *_findings(d),
        _footer(view),
    ]
    if view.notice:
        body.insert(3, callout("Note", view.notice, "warning"))
    fallback = f"Device settings: {JOIN_SETTING_LABEL} is {describe_join(join)}. " + " ".join(
        f.title + "." for f in d.findings
    )
    actions = _nav(view, None, ("join", "Next: join permissions"))
    if view.mdm_sign_in:
        actions.append(execute("Sign in to check the MDM user scope", CheckMdmScope(sessionId=view.session_id)))  # type: ignore[call-arg]
    return build_card(body, fallback_text=fallback, actions=actions)


def _account_line(status: AccountStatus, names: DirectoryNames) -> str:
    """Says the account's standing in the very words the card's counts use."""
    upn = status.account.user_principal_name
    standing = status.standing
    if standing is Standing.DISABLED:
        state = "\u26d4 disabled"
    elif standing is Standing.EXPIRED:
        state = "\u26a0\ufe0f expired (token older than 180 days)"
    elif standing is Standing.MAY_NOT_JOIN:
        state = "\u26d4 may not join"
    elif status.coverage is Coverage.GROUP and status.via_group:
        state = f"\u2705 may join (through group {plain(names.name(status.via_group))})"
    else:
        state = "\u2705 may join (All)" if status.coverage is Coverage.ALL else "\u2705 may join (listed in Selected)"
    return f"{short_account(upn)}: {state}"


def account_summary(counts: AccountCounts) -> str:
    """ "4 package accounts: 1 may join devices, 2 may not, 1 disabled." The numbers add up to the total."""
    parts = [f"**{counts.may_join}** may join devices", f"**{counts.may_not_join}** may not"]
    if counts.disabled:
        parts.append(f"**{counts.disabled}** disabled")
    if counts.expired:
        parts.append(f"**{counts.expired}** expired")
    noun = "package account" if counts.total == 1 else "package accounts"
    return f"**{counts.total}** {noun}: " + ", ".join(parts) + "."


def _justification_input() -> ac.TextInput:
    """One per card: every "Request approval" button of the card sends it. One line tall (it still takes 1000)."""
    return ac.TextInput(
        id="justification",
        label="Why? (optional, for the approvers)",
        max_length=1000,
        placeholder="e.g. room 101's PCs fail to enroll",
    )


def _plan_facts(plan: JoinChangePlan) -> ac.FactSet:
    return facts([("Before", describe_join(plan.before)), ("After", describe_join(plan.after))])


def _window_input(view: DiagnosisView) -> ac.ChoiceSetInput:
    """Like a time-bound role in Entra PIM: the deployment window, after which the bot removes the accounts."""
    choices = [ac.Choice(title=f"For {window_label(w)}", value=w) for w in view.windows]
    choices.append(ac.Choice(title="Permanently", value="permanent"))
    return ac.ChoiceSetInput(
        id="window",
        label="For how long? (then I remove them again)",
        choices=choices,
        value=view.window_default,
        style="compact",
        is_required=True,
    )


def _all_alternative(view: DiagnosisView, alternative: JoinChangePlan) -> ac.ShowCardAction:
    """The riskier fix, one tap away and never beside the safe one: its consequence comes before its button."""
    card = ac.AdaptiveCard(
        body=[
            text("Allow every user instead", weight="Bolder"),
            text(alternative.consequence()),
            text(
                "Only choose this if your organisation allows any user to Microsoft Entra-join devices. The minimal "
                "fix above is safer.",
                size="Small",
                is_subtle=True,
            ),
        ],
        actions=[
            execute(
                "Request approval for All",
                RequestApproval(session_id=view.session_id, option="all"),
                with_inputs=True,
                style="destructive",
            )
        ],
    )
    return ac.ShowCardAction(title="Other option: All users", card=card)


def build_join_permissions_card(view: DiagnosisView) -> dict[str, Any]:
    d = view.diagnosis
    body: list[ac.CardElement] = [*_step_header("join")]
    counts = d.counts
    total = counts.total
    blocked = [a for a in d.accounts if a.standing is not Standing.MAY_JOIN]
    body.append(text(account_summary(counts)))
    listed = (
        blocked[:MAX_LISTED_ACCOUNTS]
        + [a for a in d.accounts if a not in blocked][: max(0, MAX_LISTED_ACCOUNTS - len(blocked))]
    )
    for status in listed:
        body.append(text(_account_line(status, view.names), size="Small", spacing="None"))
    if total > len(listed):
        body.append(text(f"\u2026 and {total - len(listed)} more.", size="Small", is_subtle=True, spacing="None"))
    if total:
        body.extend(show_all("all-accounts", [a.account.user_principal_name for a in d.accounts]))
    # The counts above already say who may not join: the findings here are the rest (disabled, expired, …).
    body.extend(_findings(d, skip=(FindingCode.ACCOUNTS_NOT_COVERED, FindingCode.JOIN_OK)))
    actions: list[ac.Action] = []
    if d.plan:
        added = len(d.plan.added_users)
        body.append(text("The minimal fix", weight="Bolder", spacing="Medium"))
        body.append(
            text(
                f"Add the {added} that may not join to the Selected list of '{JOIN_SETTING_LABEL}'; nothing else "
                "changes."
            )
        )
        body.append(_plan_facts(d.plan))
        body.append(_justification_input())
        if view.windows and can_have_window(d.plan):
            body.append(_window_input(view))
        actions.append(
            execute("Request approval", RequestApproval(session_id=view.session_id), with_inputs=True, style="positive")
        )
        if d.alternative:
            actions.append(_all_alternative(view, d.alternative))
    elif d.join.kind is MembershipKind.ALL:
        body.append(text("The join setting is All, so it is not what blocks these accounts.", spacing="Medium"))
    others = d.other_fixes[:MAX_OTHER_FIX_BUTTONS]
    if others:
        body.append(text("Other fixes I can make once approved", weight="Bolder", spacing="Medium"))
        if not d.plan:  # the join fix's block carries the input otherwise
            body.append(_justification_input())
        for other in others:
            # Each beside what it does, not among the card's actions: the join fix stays the one primary action.
            body.append(text(plain(other.consequence(), TEXT_LIMIT), size="Small", spacing="Small"))
            button = execute(
                f"Request approval: {plain(other.label, 60)}",
                RequestApproval(session_id=view.session_id, option=other.option),
                with_inputs=True,
            )
            body.append(ac.ActionSet(actions=[button], spacing="Small"))
    if view.notice:
        body.append(callout("Approvals", view.notice, "warning"))
    body.append(_footer(view))
    # With a fix to ask for, the card's buttons are that fix, its alternative and the way on (a phone stacks
    # every button full width); step 1's facts are in "Before" above.
    actions.extend(_nav(view, None if d.plan else "settings", ("verify", "Next: verify")))
    fallback = "Join permissions: " + account_summary(counts).replace("**", "")
    if d.plan:
        fallback += " " + d.plan.consequence()
    return build_card(body, fallback_text=fallback, actions=actions)


def build_verify_card(view: DiagnosisView) -> dict[str, Any]:
    d = view.diagnosis
    body: list[ac.CardElement] = [*_step_header("verify")]
    body.append(text(f"I read the policy again: '{JOIN_SETTING_LABEL}' is **{describe_join(d.join)}**."))
    counts = d.counts
    blocked = counts.may_not_join
    if not blocked and d.join.kind is not MembershipKind.NONE:
        body.append(
            callout(
                "Join permission looks right",
                f"All {counts.usable} usable package accounts may join devices."
                + ("" if d.healthy else " Other problems remain: see what I found below."),
                "good" if d.healthy else "warning",
            )
        )
    else:
        body.append(
            callout(
                "Not fixed yet",
                f"{blocked} of {counts.usable} usable package accounts still may not join devices."
                if blocked
                else "Nobody may join devices yet.",
                "attention",
            )
        )
    body.extend(old_evidence_blocks(view.old_evidence))
    body.extend(_findings(d))
    body.append(text("Next", weight="Bolder", spacing="Medium"))
    fixed = not blocked and d.join.kind is not MembershipKind.NONE and d.healthy
    way_on: list[ac.Action] = []
    if fixed:
        # Numbered by hand, one block each: a Markdown list's indent is the host's to choose, and on a phone
        # some hosts push it past the edge.
        for number, line in enumerate(
            (
                "Changes to device settings take a while to reach every service: wait several minutes.",
                "Apply the provisioning package again on one device.",
                "If it still fails, look at Event Viewer > Applications and Services Logs > Microsoft > Windows > "
                "Provisioning-Diagnostics-Provider > Admin on that device, and check again here.",
            ),
            start=1,
        ):
            body.append(text(f"**{number}.** {line}", spacing="Small"))
    else:
        # Applying the package again would fail the same way: the way on is the fix, or the request for it.
        line, way_on = _way_to_the_fix(view)
        body.append(text(line, spacing="Small"))
    body.append(text("Recent bulk enrollment failures in Intune (UTC)", weight="Bolder", spacing="Medium"))
    if view.events_error:
        body.append(text(plain(view.events_error, TEXT_LIMIT), size="Small", color="Warning"))
    elif not view.events:
        body.append(text("No bulk enrollment troubleshooting events were found.", size="Small", is_subtle=True))
    else:
        body.append(
            facts(
                [
                    (
                        f"{e.time:%d %b %H:%M}",
                        f"{CATEGORY_LABELS.get(e.failure_category, plain(e.failure_category))}: "
                        f"{plain(e.failure_reason or 'no reason given', TEXT_LIMIT)}",
                    )
                    for e in view.events[:MAX_LISTED_EVENTS]
                ]
            )
        )
    body.append(_footer(view))
    actions: list[ac.Action] = [*way_on, execute("Check again", Recheck(session_id=view.session_id))]
    if not way_on:
        actions.extend(_nav(view, "join", None))
    fallback = f"Verify: join setting is {describe_join(d.join)}; {blocked} usable package accounts still blocked."
    return build_card(body, fallback_text=fallback, actions=actions)


def _way_to_the_fix(view: DiagnosisView) -> tuple[str, list[ac.Action]]:
    """Not fixed: what leads to the fix. A request on its way: its state; otherwise the step with the fix."""
    to_the_fix: list[ac.Action] = [
        execute("Go to the fix: join permissions", ShowStep(session_id=view.session_id, step="join"), style="positive")
    ]
    note = view.request
    if note is not None:
        who = "you" if note.mine else plain(note.asked_by)
        asked = f"{who} asked for it at {_when(note.asked_at)}"
        if note.stage == "on its way":
            see: list[ac.Action] = [execute("See request", ViewRequest(request_id=note.request_id))]
            return (
                f"The request for this fix is **{plain(note.state)}** ({asked}). When it is applied, check again here.",
                see if note.mine else [],
            )
        if note.stage == "applied":
            return (
                f"The request for this fix was applied ({asked}), and what is above still blocks the package "
                "accounts: the join permissions step has the fix for what remains.",
                to_the_fix,
            )
        return (
            f"The last request for this fix ended **{plain(note.state)}** ({asked}): it changed nothing. "
            "Ask again on the join permissions step.",
            to_the_fix,
        )
    if view.diagnosis.plan or view.diagnosis.other_fixes:
        return (
            "The fix is on the join permissions step: request approval for it there, then check again here.",
            to_the_fix,
        )
    return "What still blocks it is listed above, each with its fix; check again here once it is made.", to_the_fix


STEP_BUILDERS = {
    "settings": build_device_settings_card,
    "join": build_join_permissions_card,
    "verify": build_verify_card,
}


TENANT_COMMANDS = (
    ("tenants", "The tenants I serve"),
    ("use tenant <domain> here", "Bind this chat or channel to one tenant"),
    ("connect a tenant", "Add a customer tenant (approvers)"),
)


def build_help_card(greeting: str | None = None, *, many_tenants: bool = False) -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading("I fix Windows bulk enrollment failures"),
        text(
            (greeting + " " if greeting else "")
            + "When a provisioning package fails with \u201cA setup failure has occurred during bulk "
            "enrollment\u201d, paste the error (or a log) here and I will check your tenant through "
            "Microsoft Graph: who may join devices to Entra ID, which package accounts are blocked, and "
            "the smallest fix."
        ),
        facts(
            [
                ("diagnose", "Run the diagnosis now"),
                ("status", "Your approval requests"),
                ("alerts on / alerts off", "Failure spike alerts in this channel"),
                ("audit", "Recent approved changes (admins' channel)"),
                ("why?", "Why my last card said what it said"),
                *(TENANT_COMMANDS if many_tenants else (("connect a tenant", "Serve another tenant too (approvers)"),)),
                ("help", "This card"),
            ]
        ),
        text("In a channel, @mention me first.", size="Small", is_subtle=True),
    ]
    return build_card(
        body,
        fallback_text="Enrollment Doctor: paste a bulk enrollment error, or say diagnose.",
        actions=[execute("Diagnose now", StartDiagnosis())],
    )


def build_welcome_card(team: bool) -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading("Hi, I'm Enrollment Doctor"),
        text(
            "When Windows shows \u201cA setup failure has occurred during bulk enrollment\u201d after a provisioning "
            "package, paste the error or a log here. I check your tenant through Microsoft Graph (who may join "
            "devices, Conditional Access, enrollment restrictions, the package accounts) and show the smallest fix."
        ),
    ]
    if team:
        body += [
            text("In a channel, @mention me first.", spacing="Small"),
            text(
                "To get approval requests in a channel, an approver writes \u201c@Enrollment Doctor use this channel "
                "for approvals\u201d there. Approvers are the members of the group the operator set up.",
                size="Small",
                is_subtle=True,
            ),
        ]
    return build_card(
        body,
        fallback_text="Enrollment Doctor: paste a bulk enrollment error, or press Diagnose.",
        actions=[execute("Diagnose", StartDiagnosis(), style="positive")],
    )


def build_did_you_mean_card() -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading("Did you mean a bulk enrollment problem?"),
        text(
            "Your message sounds close to what I do, but I am not sure it is a failure of a provisioning package "
            "(bulk enrollment). If it is, I can check your tenant now; if not, say **help** to see what I can do."
        ),
    ]
    return build_card(
        body,
        fallback_text="Did you mean a bulk enrollment problem? Press Diagnose, or say help.",
        actions=[execute("Yes, diagnose my tenant", StartDiagnosis(), style="positive")],
    )


def build_not_understood_card() -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading("I did not recognise a bulk enrollment problem"),
        text(
            "I only help with Windows bulk enrollment (provisioning packages). Paste the error text or a log, "
            "or say **diagnose** to check your tenant anyway. Say **help** for everything I can do."
        ),
    ]
    return build_card(
        body,
        fallback_text="Paste a bulk enrollment error, or say diagnose or help.",
        actions=[execute("Diagnose now", StartDiagnosis())],
    )


def build_elsewhere_card(lookalike: Lookalike, clues: Clues) -> dict[str, Any]:
    """A message about something that only looks like ours: what it looks like, and where to look instead."""
    what = f"That looks like {lookalike.what}"
    body: list[ac.CardElement] = [*heading(what)]
    if lookalike.code and lookalike.meaning:
        body.append(text(f"**{lookalike.code}**: {plain(lookalike.meaning)}."))
    body.append(
        text(
            "I diagnose Windows enrollment with a provisioning package (bulk enrollment), so I have not checked "
            "your tenant for this."
        )
    )
    where = plain(lookalike.advice)
    if lookalike.link:
        where += f" [Microsoft's page]({lookalike.link})"
    body += [text("Where to look", weight="Bolder", spacing="Medium"), text(where, spacing="Small")]
    return build_card(
        body,
        fallback_text=f"{what}. I diagnose provisioning-package (bulk) enrollment only.",
        actions=[
            execute(
                "It is a provisioning package: diagnose",
                StartDiagnosis(
                    errorCodes=clues.error_codes[:10],  # type: ignore[call-arg]
                    packageGuids=clues.package_guids[:10],
                    deviceName=clues.device_name,
                ),
            )
        ],
    )


def build_glad_card() -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading("Good to hear it works"),
        text("If a provisioning package fails again, paste the error or the log here and I will check your tenant."),
    ]
    return build_card(body, fallback_text="Good to hear it works.")


def build_out_of_date_card(reason: str = "This card is out of date.") -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading("This card is out of date"),
        text(f"{reason} Nothing was changed. Start a fresh diagnosis to see the tenant as it is now."),
    ]
    return build_card(body, fallback_text=reason, actions=[execute("Start a new diagnosis", StartDiagnosis())])


def build_error_card(title: str, message: str, next_step: str, correlation_id: str) -> dict[str, Any]:
    body: list[ac.CardElement] = [
        *heading(title),
        text(plain(message, TEXT_LIMIT)),
        text("What to do", weight="Bolder", spacing="Medium"),
        text(next_step),
        text(f"Correlation id: {correlation_id}", size="Small", is_subtle=True, spacing="Medium"),
    ]
    return build_card(
        body,
        fallback_text=f"{title}: {message} (correlation id {correlation_id})",
        actions=[execute("Try again", StartDiagnosis())],
    )
