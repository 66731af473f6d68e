"""How tall cards are on a phone: rendered alone at 360 px by Microsoft's Adaptive Cards renderer in Chromium,
as the e2e journey renders them (tests/support/phone.mjs, through card_heights.mjs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def render_on_a_phone(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each card's {height (px), overflowing (elements past the screen's edge)}."""
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is required: `make test` installs Debian's chromium package"
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "support" / "card_heights.mjs")],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CHROMIUM": chromium},
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)
