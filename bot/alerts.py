"""Watch Intune's troubleshooting events, detect spikes of bulk enrollment failures, alert channels once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.approvals import ApprovalService
from bot.clock import Clock
from bot.domain.model import BULK_ENROLLMENT_TYPES
from bot.domain.spikes import Detector, Failure, IncidentChange, SpikeRules, Taken
from bot.errors import GraphError
from bot.graph import GraphGateway
from bot.observability import Metrics
from bot.packages import PackageWatch
from bot.proactive import ConversationGoneError, Messenger, channel_base_id
from bot.settings import Settings
from bot.storage import Storage
from cards.alerts import AlertView, build_alert_card, build_back_to_normal_card

log = logging.getLogger(__name__)

STATE_KEY = "alerts_state"
MAX_PENDING_REPORTS = 10_000
LATE_ARRIVAL = timedelta(minutes=30)  # events this much older than the mark are still looked for


def incident_key(incident_id: str) -> str:
    """The alert as posted (its numbers, where it went, when it ended): written by the poller only."""
    return f"alert-incident:{incident_id}"


def taken_key(incident_id: str) -> str:
    """ "I'm on it": claimed once, by whoever is first, on any replica."""
    return f"alert-taken:{incident_id}"


def diagnosed_key(incident_id: str) -> str:
    return f"alert-diagnosed:{incident_id}"


@dataclass
class PollState:
    """What persists between polls: the detector, the high-water mark, and the ids already counted."""

    detector: Detector
    mark: datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)  # event id -> eventDateTime, near the mark

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector.to_json(),
            "mark": self.mark.isoformat() if self.mark else None,
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, rules: SpikeRules) -> PollState:
        data = data or {}
        mark = data.get("mark")
        return cls(
            detector=Detector.from_json(data.get("detector"), rules),
            mark=datetime.fromisoformat(mark) if mark else None,
            seen=dict(data.get("seen", {})),
        )


class AlertService:
    def __init__(
        self,
        settings: Settings,
        graph: GraphGateway,
        storage: Storage,
        clock: Clock,
        messenger: Messenger,
        approvals: ApprovalService,
        metrics: Metrics | None = None,
        packages: PackageWatch | None = None,
    ):
        self._settings = settings
        self._graph = graph
        self._storage = storage
        self._clock = clock
        self._messenger = messenger
        self._approvals = approvals
        self._metrics = metrics or Metrics()
        self._packages = packages
        self._reports: dict[str, Failure] = {}  # reporter -> first report since the last poll
        self.last_ingested: int | None = None  # new bulk failures counted by the last poll (None: never polled)
        self._lock = asyncio.Lock()
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.rules = SpikeRules(
            window=timedelta(minutes=settings.alert_window_minutes),
            min_count=settings.alert_min_count,
            factor=settings.alert_factor,
            clear_factor=settings.alert_clear_factor,
            baseline_windows=settings.alert_baseline_windows,
        )

    # ---- signals --------------------------------------------------------------------------------
    def record_chat_report(self, reporter_id: str) -> None:
        """A person reported the error in chat; counted (once per person per window) at the next poll."""
        # One pending report per person (the detector counts distinct people anyway): bounded however often
        # someone pastes between two polls, or if nobody polls at all.
        if reporter_id and reporter_id not in self._reports and len(self._reports) < MAX_PENDING_REPORTS:
            self._reports[reporter_id] = Failure(self._clock.now(), "chat", reporter=reporter_id)

    async def _count_new_failures(self, state: PollState) -> int:
        """Count the bulk enrollment failures not counted yet into the detector, page by page as they arrive,
        so the work hides behind Graph preparing the next page (bot/graph.py reads one page ahead)."""
        cutoff = state.mark - LATE_ARRIVAL if state.mark else None
        fresh: list[tuple[str, datetime]] = []
        seen = state.seen
        async for page in self._graph.troubleshooting_event_pages(BULK_ENROLLMENT_TYPES):
            failures = []
            for event in page:
                if event.id in seen or (cutoff is not None and event.time < cutoff):
                    continue
                fresh.append((event.id, event.time))
                failures.append(Failure(event.time, event.failure_category, event.failure_reason, event.user_id))
            state.detector.add(failures)
        if fresh:
            newest = max(t for _, t in fresh)
            state.mark = max(state.mark, newest) if state.mark else newest
        if state.mark is not None:
            # Only ids that a later poll could see again (within LATE_ARRIVAL of the mark) are remembered.
            keep = state.mark - LATE_ARRIVAL
            keep_after = keep.isoformat()
            recent = {i: t.isoformat() for i, t in fresh if t >= keep}
            state.seen = {i: t for i, t in seen.items() if t >= keep_after} | recent
        return len(fresh)

    # ---- one poll ---------------------------------------------------------------------------------
    async def poll_once(
        self, *, holder: str | None = None, lease_seconds: float | None = None
    ) -> IncidentChange | None:
        """One poll, by whichever replica holds the poller lease; the others skip (no double alerts). Under the
        per-tenant scheduler (bot/tenants/polling.py) the lease is the replica's and as long as its tenant lease,
        so a replica that took the tenant over is not kept waiting by the lease of one that died."""
        lease = timedelta(seconds=lease_seconds or 3 * self._settings.alert_poll_seconds)
        if not await self._storage.acquire_lease("alerts-poller", holder or self._holder, self._clock.now(), lease):
            log.debug("alerts: another replica is polling")
            return None
        try:
            return await self._poll_spikes()
        finally:
            if self._packages is not None:
                await self._watch_packages()

    async def _watch_packages(self) -> None:
        """Under the same lease: package expiry warnings and new package accounts (bot/packages.py)."""
        assert self._packages is not None
        try:
            targets = [(t, r) for t in await self._targets() if (r := await self._reference(t)) is not None]
            channel = await self._approvals.admin_channel()
            admin = (channel_base_id(channel["conversation"]["id"]), channel) if channel else None
            await self._packages.check(targets, admin)
        except GraphError as exc:
            log.warning("package watch: %s; trying again next poll", exc)
        except Exception:
            log.exception("package watch failed; trying again next poll")

    async def _poll_spikes(self) -> IncidentChange | None:
        async with self._lock:
            state = PollState.from_json(await self._storage.get_setting(STATE_KEY), self.rules)
            # Counted into the detector as the pages arrive; a Graph error leaves the stored state untouched.
            counted = await self._count_new_failures(state)
            reports, self._reports = list(self._reports.values()), {}
            state.detector.add(reports)
            alerted = dict((state.detector.incident or {}).get("alerts", {}))  # where this incident was posted
            change = state.detector.evaluate(self._clock.now())
            # Persist first: a restart after this point neither counts these events again nor re-alerts.
            await self._storage.set_setting(STATE_KEY, state.to_json())
            self.last_ingested = counted
            log.info("alerts: %d new bulk failures, %d chat reports", counted, len(reports))
            if change is None:
                await self._finish_pending_deliveries(state)
                return None
            if change.kind == "opened":
                await self._deliver_opened(state, change)
            else:
                await self._deliver_closed(change, alerted)
            return change

    async def _targets(self) -> list[str]:
        subscriptions = await self._storage.list_subscriptions()
        targets = [c for c, active in subscriptions.items() if active]
        channel = await self._approvals.admin_channel()
        if channel:
            admin_id = channel_base_id(channel["conversation"]["id"])
            if subscriptions.get(admin_id, True) and admin_id not in targets:
                targets.insert(0, admin_id)
        return targets

    async def _reference(self, conversation_id: str) -> dict[str, Any] | None:
        record = await self._storage.get_conversation(conversation_id)
        if record is not None:
            return record.reference
        channel = await self._approvals.admin_channel()
        if channel and channel_base_id(channel["conversation"]["id"]) == conversation_id:
            return channel
        return None

    async def _accounts(self, change: IncidentChange) -> tuple[str, ...]:
        if not change.users:
            return ()
        try:
            accounts = {a.id: a.user_principal_name for a in await self._graph.list_package_accounts()}
        except GraphError as exc:
            log.warning("alert: could not name the package accounts: %s", exc)
            return ()
        return tuple(accounts[u] for u in change.users if u in accounts)

    async def _deliver_opened(self, state: PollState, change: IncidentChange) -> None:
        view = AlertView(change, self._settings.alert_window_minutes, await self._accounts(change))
        incident = state.detector.incident or {}
        incident["change"] = _change_json(change)
        incident["accounts"] = list(view.accounts)
        await self._save_record(change.incident_id, change=incident["change"], accounts=incident["accounts"])
        await self._send_alert_to_missing(state, view)

    async def _finish_pending_deliveries(self, state: PollState) -> None:
        """An open incident whose alert did not reach every target (a restart mid-send): send the rest."""
        incident = state.detector.incident
        if not incident or "change" not in incident:
            return
        targets = await self._targets()
        if all(t in incident.get("alerts", {}) for t in targets):
            return
        change = _change_from_json(incident["change"])
        view = AlertView(
            change,
            self._settings.alert_window_minutes,
            tuple(incident.get("accounts", [])),
            taken=await self._taken(change.incident_id),
        )
        await self._send_alert_to_missing(state, view)

    async def _send_alert_to_missing(self, state: PollState, view: AlertView) -> None:
        incident = state.detector.incident
        assert incident is not None
        alerts: dict[str, str] = incident.setdefault("alerts", {})
        card = build_alert_card(view)
        for target in await self._targets():
            if target in alerts:
                continue
            reference = await self._reference(target)
            if reference is None:
                log.warning("alert: no conversation reference for %s", target)
                continue
            try:
                activity_id = await self._messenger.send_card(reference, card)
            except ConversationGoneError as exc:
                await self._unsubscribe_gone(target, exc)
                alerts[target] = ""
                continue
            except Exception:
                log.exception("alert: could not post to %s; will try again next poll", target)
                continue
            alerts[target] = activity_id or ""
            self._metrics.alerts.labels("spike").inc()
            await self._storage.set_setting(STATE_KEY, state.to_json())  # remember each delivery at once
            await self._save_record(view.change.incident_id, posts=dict(alerts))

    async def _deliver_closed(self, change: IncidentChange, alerts: dict[str, str]) -> None:
        incident_id = change.incident_id
        record = await self._save_record(incident_id, resolvedAt=change.at.isoformat())
        taken = await self._taken(incident_id)
        opened = await self._view(incident_id, record) or AlertView(
            change, self._settings.alert_window_minutes, resolved_at=change.at, taken=taken
        )
        for target, activity_id in alerts.items():
            if not activity_id:
                continue
            reference = await self._reference(target)
            if reference is None:
                continue
            try:
                await self._messenger.send_card(
                    reference, build_back_to_normal_card(change, self._settings.alert_window_minutes, taken)
                )
                self._metrics.alerts.labels("back_to_normal").inc()
                await self._messenger.update_card(reference, activity_id, build_alert_card(opened))
            except ConversationGoneError as exc:
                await self._unsubscribe_gone(target, exc)
            except Exception:
                log.exception("alert: could not post the all-clear to %s", target)

    async def _unsubscribe_gone(self, conversation_id: str, exc: Exception) -> None:
        log.warning("alert: the bot is no longer in %s (%s); unsubscribing it", conversation_id, exc)
        await self._storage.set_subscription(
            conversation_id, self._settings.tenant_id, False, "Enrollment Doctor (bot removed)", self._clock.now()
        )

    # ---- people acting on an alert --------------------------------------------------------------------
    async def _save_record(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        record = dict(await self._storage.get_setting(incident_key(incident_id)) or {})
        record.update(fields)
        await self._storage.set_setting(incident_key(incident_id), record)
        return record

    async def _taken(self, incident_id: str) -> Taken | None:
        return Taken.from_json(await self._storage.get_setting(taken_key(incident_id)))

    async def _view(
        self, incident_id: str, record: dict[str, Any] | None = None, notice: str | None = None
    ) -> AlertView | None:
        record = record if record is not None else await self._storage.get_setting(incident_key(incident_id))
        if not record or "change" not in record:
            return None
        resolved = record.get("resolvedAt")
        return AlertView(
            _change_from_json(record["change"]),
            self._settings.alert_window_minutes,
            tuple(record.get("accounts", [])),
            resolved_at=datetime.fromisoformat(resolved) if resolved else None,
            taken=await self._taken(incident_id),
            diagnosed=Taken.from_json(await self._storage.get_setting(diagnosed_key(incident_id))),
            notice=notice,
        )

    async def alert_view(self, incident_id: str) -> AlertView | None:
        return await self._view(incident_id)

    async def alert_card(self, incident_id: str) -> dict[str, Any] | None:
        view = await self._view(incident_id)
        return build_alert_card(view) if view else None

    async def take(self, incident_id: str, user_id: str, name: str) -> dict[str, Any] | None:
        """ "I'm on it": the first person to press it takes the alert; the card (for them) says who has it."""
        if await self._view(incident_id) is None:
            return None
        mine = Taken(user_id, name, self._clock.now())
        notice = None
        if not await self._storage.claim_setting(taken_key(incident_id), mine.to_json()):
            holder = await self._taken(incident_id)
            if holder and holder.user_id != user_id:
                notice = f"{holder.name} took this alert at {holder.at:%H:%M} UTC; coordinate with them in the replies."
        else:
            log.info("alert %s: taken by %s", incident_id, user_id)
        view = await self._view(incident_id, notice=notice)
        return build_alert_card(view) if view else None

    async def diagnosing(self, incident_id: str, user_id: str, name: str) -> None:
        """Remember who first started a diagnosis from the alert (shown on it)."""
        await self._storage.claim_setting(diagnosed_key(incident_id), Taken(user_id, name, self._clock.now()).to_json())

    async def refresh_posts(self, incident_id: str) -> None:
        """Put the alert as it is now in every conversation it was posted to, for everyone there."""
        record = await self._storage.get_setting(incident_key(incident_id)) or {}
        view = await self._view(incident_id, record)
        if view is None:
            return
        card = build_alert_card(view)
        for target, activity_id in dict(record.get("posts", {})).items():
            reference = await self._reference(target) if activity_id else None
            if reference is None:
                continue
            try:
                await self._messenger.update_card(reference, activity_id, card)
            except Exception as exc:  # noqa: BLE001 - one conversation's failure does not stop the others
                log.warning("alert %s: could not update the card in %s: %s", incident_id, target, exc)

    # ---- the loop ---------------------------------------------------------------------------------
    # ---- subscriptions ------------------------------------------------------------------------------
    async def subscribe(self, conversation_id: str, user_id: str, user_name: str, active: bool) -> str:
        if not self._approvals.configured:
            return "Alerts are managed by approvers, and none are configured (APPROVER_GROUP_ID or APPROVER_USER_IDS)."
        if not await self._approvals.is_approver(user_id):
            return f"Only {await self._approvals.approvers_label()} can turn alerts on or off."
        target = channel_base_id(conversation_id)
        await self._storage.set_subscription(target, self._settings.tenant_id, active, user_name, self._clock.now())
        if active:
            return "Alerts on: this conversation gets an alert when bulk enrollment failures spike, and the all-clear."
        return "Alerts off: this conversation no longer gets spike alerts."


def _change_json(change: IncidentChange) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "at": change.at.isoformat(),
        "overall": change.overall.__dict__,
        "keys": [k.__dict__ for k in change.keys],
        "reasons": [list(r) for r in change.reasons],
        "users": list(change.users),
        "trend": list(change.trend),
        "incidentId": change.incident_id,
    }


def _change_from_json(data: dict[str, Any]) -> IncidentChange:
    from bot.domain.spikes import KeyView

    return IncidentChange(
        kind=data["kind"],
        at=datetime.fromisoformat(data["at"]),
        overall=KeyView(**data["overall"]),
        keys=tuple(KeyView(**k) for k in data["keys"]),
        reasons=tuple((r[0], r[1]) for r in data["reasons"]),
        users=tuple(data["users"]),
        trend=tuple(data["trend"]),
        incident_id=data["incidentId"],
    )
