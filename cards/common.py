"""Shared pieces for card builders: the card envelope, actions and small typed elements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import microsoft_teams.cards as ac

from cards.verbs import Payload, action_data, verb_of

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION: Literal["1.5"] = "1.5"
BRAND = "Enrollment Doctor"


def execute(title: str, payload: Payload, *, with_inputs: bool = False, style: str | None = None) -> ac.ExecuteAction:
    return ac.ExecuteAction(
        title=title,
        verb=verb_of(payload).value,
        data=action_data(payload),
        associated_inputs="auto" if with_inputs else "none",
        style=style,  # type: ignore[arg-type]
    )


def heading(text: str, subtitle: str | None = None) -> list[ac.CardElement]:
    items: list[ac.CardElement] = [
        ac.TextBlock(text=BRAND, size="Small", weight="Bolder", color="Accent", is_subtle=False, wrap=True)
    ]
    if subtitle:
        items.append(ac.TextBlock(text=subtitle, size="Small", is_subtle=True, spacing="None", wrap=True))
    items.append(ac.TextBlock(text=text, size="Large", weight="Bolder", wrap=True, style="heading"))
    return items


def text(value: str, **kwargs: Any) -> ac.TextBlock:
    kwargs.setdefault("wrap", True)
    return ac.TextBlock(text=value, **kwargs)


def facts(pairs: Sequence[tuple[str, str]]) -> ac.FactSet:
    return ac.FactSet(facts=[ac.Fact(title=title, value=value) for title, value in pairs])


def callout(title: str, body: str, style: str) -> ac.Container:
    return ac.Container(
        style=style,  # type: ignore[arg-type]
        items=[text(title, weight="Bolder"), text(body, spacing="Small")],
        spacing="Medium",
    )


def build_card(
    body: Sequence[ac.CardElement],
    *,
    fallback_text: str,
    actions: Sequence[ac.Action] = (),
    refresh: ac.RefreshDefinition | None = None,
) -> dict[str, Any]:
    card = ac.AdaptiveCard(
        version=CARD_VERSION,
        body=list(body),
        actions=list(actions) or None,
        fallback_text=fallback_text,
        refresh=refresh,
    )
    data = card.model_dump(by_alias=True, exclude_none=True)
    data["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json"
    return data
