"""Which tenant a card is about: a line naming it, the tenant stamped into every action it carries, and the
question asked when a message could be about more than one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cards.common import build_card, execute, plain, text
from cards.verbs import StartDiagnosis

TENANT_LINE_ID = "tenant-line"


def _stamp_actions(node: Any, tenant_id: str) -> None:
    if isinstance(node, dict):
        if node.get("type") == "Action.Execute":
            data = node.get("data")
            node["data"] = {**(data if isinstance(data, dict) else {}), "tenant": tenant_id}
        for value in node.values():
            _stamp_actions(value, tenant_id)
    elif isinstance(node, list):
        for item in node:
            _stamp_actions(item, tenant_id)


def stamp_tenant(card: dict[str, Any], tenant_id: str, label: str) -> dict[str, Any]:
    """The card, naming its tenant in its first line, each action carrying the tenant it acts on (checked again
    when pressed: a forged one is refused). Stamping twice changes nothing."""
    stamped: dict[str, Any] = _copy(card)
    _stamp_actions(stamped, tenant_id)
    body = stamped.setdefault("body", [])
    if not (body and isinstance(body[0], dict) and body[0].get("id") == TENANT_LINE_ID):
        line = text(f"Tenant: {plain(label)}", size="Small", is_subtle=True, id=TENANT_LINE_ID, spacing="None")
        body.insert(0, line.model_dump(by_alias=True, exclude_none=True))
    return stamped


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def button_title(label: str) -> str:
    """A button's title is plain text, not Markdown: the directory's name as it is, one line, capped."""
    return " ".join("".join(c for c in label if c.isprintable()).split())[:60]


def build_which_tenant_card(
    candidates: Sequence[tuple[str, str]],
    error_codes: tuple[str, ...] = (),
    package_guids: tuple[str, ...] = (),
    device_name: str | None = None,
) -> dict[str, Any]:
    """One button per tenant the message could be about (tenant id, label); the diagnosis starts in the one
    pressed, with what the message said."""
    body = [
        text("Which tenant is this about?", weight="Bolder", size="Medium"),
        text(
            "I serve more than one tenant, and nothing in the message says which (a package account's domain would, "
            'or a channel bound to one tenant: say "use tenant <domain> here").',
            spacing="Small",
        ),
    ]
    actions = [
        execute(
            button_title(label),
            StartDiagnosis(
                errorCodes=error_codes[:10],  # type: ignore[call-arg]
                packageGuids=package_guids[:10],
                deviceName=device_name,
                tenant=tenant_id,
            ),
        )
        for tenant_id, label in candidates[:6]
    ]
    names = ", ".join(label for _, label in candidates)
    return build_card(body, fallback_text=f"Which tenant is this about? {names}", actions=actions)
