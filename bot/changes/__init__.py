"""The kinds of change the bot can make once approved. Adding one: a module like `join_permission` and a line
in KINDS."""

from __future__ import annotations

from typing import Any

from bot.changes import allow_windows, ca_exclusion, join_permission
from bot.changes.base import ChangeKind, Outcome, Result
from bot.domain.approval import ChangePlan

KINDS: dict[str, ChangeKind] = {
    join_permission.KIND.name: join_permission.KIND,
    ca_exclusion.KIND.name: ca_exclusion.KIND,
    allow_windows.KIND.name: allow_windows.KIND,
}


def kind_of(plan: ChangePlan) -> ChangeKind:
    return KINDS[plan.kind]


def plan_from_json(data: dict[str, Any]) -> ChangePlan:
    """A stored plan; those stored before kinds existed are join-permission plans."""
    return KINDS[str(data.get("kind") or join_permission.KIND.name)].plan_from_json(data)


__all__ = ["KINDS", "ChangeKind", "Outcome", "Result", "kind_of", "plan_from_json"]
