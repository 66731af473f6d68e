"""Reading cards in tests as a person sees them: Markdown backslash escapes (cards.common.plain) removed."""

from __future__ import annotations

import json
import re
from typing import Any

# In the JSON text an escape `\_` is written `\\_`; CommonMark shows the escaped punctuation alone.
_ESCAPE = re.compile(r"\\\\([!-/:-@\[-`{-~])")


def text_of(card: dict[str, Any]) -> str:
    return _ESCAPE.sub(r"\1", json.dumps(card, ensure_ascii=False))
