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


def face_text(card: dict[str, Any]) -> str:
    """What a person sees on the card without tapping anything: its texts and facts, not those of hidden elements
    (behind "Details", "Show all", a show-card), and the notification's preview (fallbackText)."""
    seen: list[str] = [str(card.get("fallbackText", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict) or node.get("isVisible") is False:
            return
        if node.get("type") == "TextBlock":
            seen.append(str(node.get("text", "")))
        if node.get("type") == "FactSet":
            seen.extend(f"{f.get('title')} {f.get('value')}" for f in node.get("facts", []))
        for key in ("body", "items", "columns", "facts"):
            if key in node:
                walk(node[key])

    walk(card.get("body", []))
    return _ESCAPE.sub(r"\1", json.dumps(seen, ensure_ascii=False))
