"""Cards about a photo or file that did not start a diagnosis: why, what was read, and what to send instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import microsoft_teams.cards as ac

from bot.domain.lookalikes import Lookalike
from cards.common import TEXT_LIMIT, build_card, execute, heading, plain, text
from cards.diagnosis import read_text_blocks
from cards.verbs import StartDiagnosis

SEND_INSTEAD = (
    "- a sharper photo: the whole message in the frame, taken straight on, without glare or reflections;\n"
    "- the error typed, word for word (with its code, if it shows one);\n"
    "- the device's logs: in Event Viewer, Applications and Services Logs > Microsoft > Windows > "
    "Provisioning-Diagnostics-Provider > Admin, select the events and copy them as text."
)


def _send_instead() -> list[ac.CardElement]:
    return [text("What to send instead", weight="Bolder", spacing="Medium"), text(SEND_INSTEAD, spacing="Small")]


def build_attachments_refused_card(refused: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Attachments not read at all (type, size, address, time, memory, a bomb): each with why."""
    title = f"I could not read {plain(refused[0][0])}" if len(refused) == 1 else "I could not read your files"
    body: list[ac.CardElement] = [*heading(title)]
    for name, reason in refused:
        body.append(text(f"**{plain(name)}**: {plain(reason, TEXT_LIMIT)}.", spacing="Small"))
    body.append(text("Nothing was checked or changed.", spacing="Small"))
    body += _send_instead()
    fallback = "; ".join(f"{plain(name)}: {plain(reason, TEXT_LIMIT)}" for name, reason in refused)
    return build_card(body, fallback_text=f"I could not read it ({fallback}).")


def build_photo_not_the_error_card(name: str, read: str, lookalike: Lookalike | None) -> dict[str, Any]:
    """A photo that was read but does not show the bulk enrollment error (or shows no text at all)."""
    if not read.strip():
        title = f"I found no text in {plain(name)}"
        body: list[ac.CardElement] = [
            *heading(title),
            text("The photo may be blurred, too dark, too far away, or not a photo of a screen."),
        ]
    else:
        title = f"{plain(name)} does not show the bulk enrollment error"
        body = [*heading(title), *read_text_blocks(f"the photo {name}", read)]
        if lookalike is not None:
            what = f"That looks like {lookalike.what}."
            if lookalike.code and lookalike.meaning:
                what += f" **{lookalike.code}**: {plain(lookalike.meaning)}."
            where = plain(lookalike.advice)
            if lookalike.link:
                where += f" [Microsoft's page]({lookalike.link})"
            body += [text(what, spacing="Medium"), text(where, spacing="Small")]
        else:
            body.append(
                text(
                    'If the text above is a misread of "A setup failure has occurred during bulk enrollment.", '
                    "send one of the below, or press Diagnose to check your tenant anyway.",
                    spacing="Medium",
                )
            )
    body += _send_instead()
    return build_card(
        body,
        fallback_text=f"{title}. Send a sharper photo, the error typed, or the device's logs.",
        actions=[execute("Diagnose anyway", StartDiagnosis())],
    )
