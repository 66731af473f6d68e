"""Reading cards in tests as a person sees them: Markdown backslash escapes (cards.common.plain) removed."""

from __future__ import annotations

import json
import re
from typing import Any

# In the JSON text an escape `\_` is written `\\_`; CommonMark shows the escaped punctuation alone.
_ESCAPE = re.compile(r"\\\\([!-/:-@\[-`{-~])")


def text_of(card: dict[str, Any]) -> str:
    return _ESCAPE.sub(r"\1", json.dumps(card, ensure_ascii=False))


def elements(node: Any) -> list[dict[str, Any]]:
    """Every typed node of a card (elements, actions, inputs), depth first, show-cards included."""
    found = []
    if isinstance(node, dict):
        if "type" in node:
            found.append(node)
        for value in node.values():
            found += elements(value)
    elif isinstance(node, list):
        for value in node:
            found += elements(value)
    return found


def actions_in(node: Any) -> list[dict[str, Any]]:
    """Every Action.Execute of a card: its actions, and those in the body's action sets."""
    return [e for e in elements(node) if e["type"] == "Action.Execute"]
