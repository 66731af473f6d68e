"""Committing a request's transitions: compare-and-set in the store, one audit line each, counted and logged."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.domain.approval import Actor, Transition
from bot.observability import Metrics
from bot.storage import AuditEntry, Storage

log = logging.getLogger(__name__)


def audit_of(transition: Transition, actor: Actor | None, now: datetime, **data: Any) -> AuditEntry:
    new = transition.new
    payload: dict[str, Any] = {"plan": new.plan.to_json()}
    for key, value in (
        ("policyBefore", new.policy_before),
        ("policyAfter", new.policy_after),
        ("graphRequestId", new.graph_request_id),
        ("reason", new.reason),
        ("error", new.error),
    ):
        if value:
            payload[key] = value
    payload.update(data)
    return AuditEntry(
        at=now,
        action=transition.action.value,
        request_id=new.id,
        actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else "Enrollment Doctor",
        from_state=transition.request.state.value,
        to_state=new.state.value,
        data=payload,
    )


class Ledger:
    def __init__(self, storage: Storage, clock: Clock, metrics: Metrics):
        self._storage = storage
        self._clock = clock
        self.metrics = metrics

    async def commit(self, transition: Transition, actor: Actor | None, **audit: Any) -> bool:
        """True if this transition was the one stored (the request had not moved on meanwhile)."""
        now = self._clock.now()
        ok = await self._storage.apply_transition(transition, audit_of(transition, actor, now, **audit), now)
        if ok and transition.new.state is not transition.request.state:
            self.metrics.approvals.labels(transition.new.state.value).inc()
            log.info(
                "request %s: %s -> %s", transition.new.id, transition.request.state.value, transition.new.state.value
            )
        return ok
