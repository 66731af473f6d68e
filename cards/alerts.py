"""Alert cards: a spike of bulk enrollment failures, and the all-clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import microsoft_teams.cards as ac

from bot.domain.spikes import BUCKETS_PER_WINDOW, CHAT, OVERALL, IncidentChange, Taken, bucket_starts
from cards.common import (
    CATEGORY_LABELS,
    TEXT_LIMIT,
    build_card,
    callout,
    details,
    execute,
    facts,
    heading,
    plain,
    short_account,
    show_all,
    text,
)
from cards.verbs import Acknowledge, DiagnoseAlert

BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
KEY_LABELS = {OVERALL: "All bulk enrollment failures", CHAT: "People reporting it to me"}


@dataclass(frozen=True)
class AlertView:
    change: IncidentChange
    window_minutes: float
    accounts: tuple[str, ...] = ()  # package account UPNs involved, when known
    resolved_at: datetime | None = None
    taken: Taken | None = None  # who said "I'm on it"
    diagnosed: Taken | None = None  # who started a diagnosis from it (in the replies)
    notice: str | None = None  # for the person who just pressed a button only


def sparkline(values: tuple[int, ...]) -> str:
    top = max(values, default=0)
    if top == 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(len(BARS) - 1, round(v / top * (len(BARS) - 1)))] for v in values)


def _label(key: str) -> str:
    return KEY_LABELS.get(key) or CATEGORY_LABELS.get(key) or plain(key)


def usually(baseline: float) -> str:
    """A baseline in words: "usually none", "usually about 1", "usually about 12"."""
    if baseline < 0.5:
        return "usually none"
    return f"usually about {round(baseline)}"


def _window(minutes: float) -> str:
    return f"{minutes:g} minutes" if minutes < 120 else f"{minutes / 60:g} hours"


def trend_summary(points: list[tuple[str, int]], bucket: str, until: str) -> str:
    """What the chart shows, in a sentence: the text alternative of the chart. Each point is a bucket's start."""
    if not points:
        return f"Failures per {bucket}"
    peak_at, peak = max(reversed(points), key=lambda p: p[1])
    first, last = points[0], points[-1]
    return (
        f"Failures per {bucket} from {first[0]} to {until} UTC: {first[1]} at first, {last[1]} in the latest, "
        f"peak {peak} in the {bucket} from {peak_at}"
    )


def _numbers(points: list[tuple[str, int]], bucket: str) -> list[ac.CardElement]:
    return [
        ac.ActionSet(
            actions=[ac.ToggleVisibilityAction(title="Show the numbers", target_elements=["trend-numbers"])],
            spacing="Small",
        ),
        ac.Container(
            id="trend-numbers",
            is_visible=False,
            items=[facts([(f"from {x} UTC", f"{v} failure{'s' if v != 1 else ''}") for x, v in points])],
        ),
    ]


def build_alert_card(view: AlertView) -> dict[str, Any]:
    change = view.change
    overall = change.overall
    window = _window(view.window_minutes)
    resolved = view.resolved_at is not None
    title = "Bulk enrollment failures are back to normal" if resolved else "Bulk enrollment failures are spiking"
    body: list[ac.CardElement] = [
        *heading(title, f"Alert \u00b7 {change.at.strftime('%Y-%m-%d %H:%M UTC')}"),
        text(f"**{overall.count}** failures in the last {window} ({usually(overall.baseline)})."),
    ]
    rows = [(_label(k.key), f"{k.count} ({usually(k.baseline)})") for k in change.keys if k.key != OVERALL]
    if rows:
        body.append(text("Spiking", weight="Bolder", spacing="Medium"))
        body.append(facts(rows))
    if change.reasons:
        body.append(text("Top reasons", weight="Bolder", spacing="Medium"))
        body.append(
            facts([(str(count), plain(reason or "no reason given", TEXT_LIMIT)) for reason, count in change.reasons])
        )
    if view.accounts:
        body.append(text("Package accounts involved", weight="Bolder", spacing="Medium"))
        body.extend(text(short_account(upn), size="Small", spacing="None") for upn in view.accounts[:8])
        body.extend(show_all("all-accounts", list(view.accounts)))
    # Exactly the window the headline counts: its buckets, each labelled with when it began (the last one is
    # still filling, up to the alert's time). Records from before kept two windows: their last one is shown.
    step = timedelta(minutes=view.window_minutes / BUCKETS_PER_WINDOW)
    bucket = _window(view.window_minutes / BUCKETS_PER_WINDOW)
    trend = change.trend[-BUCKETS_PER_WINDOW:]
    starts = bucket_starts(change.at, step, len(trend))
    points = [(f"{start:%H:%M}", v) for start, v in zip(starts, trend, strict=True)]
    body.append(text(f"Trend: the last {window}", weight="Bolder", spacing="Medium"))
    # Adaptive Cards charts have no altText: the title is the chart's text alternative (it says what the
    # bars show), the numbers are one tap away, and clients without Chart.VerticalBar show them instead.
    summary = trend_summary(points, bucket, f"{change.at:%H:%M}")
    body.append(
        ac.VerticalBarChart(
            title=summary,
            x_axis_title=f"{bucket} from (UTC)",
            y_axis_title="failures",
            data=[ac.VerticalBarChartDataValue(x=x, y=v) for x, v in points],
            fallback=text(f"{sparkline(trend)}  {summary}"),
        )
    )
    body.extend(_numbers(points, bucket))
    if view.taken:
        since = f"since {view.taken.at:%H:%M} UTC"
        body.append(text(f"**{plain(view.taken.name)}** is on it ({since}).", spacing="Medium"))
    if view.diagnosed:
        body.append(
            text(
                f"{plain(view.diagnosed.name)} started a diagnosis at {view.diagnosed.at:%H:%M} UTC, in the replies.",
                size="Small",
                is_subtle=True,
            )
        )
    if view.notice:
        body.append(callout("Note", plain(view.notice, TEXT_LIMIT), "warning"))
    incident = change.incident_id
    # The alert's id is for whoever runs the bot (logs, storage): behind "Details", never on the card's face.
    body.append(details("Spike alert", [f"Alert id: {plain(incident)}"], "alert-details"))
    if resolved:
        who = f" {plain(view.taken.name)} was on it." if view.taken else ""
        body.append(callout("Resolved", f"Back to normal at {view.resolved_at:%Y-%m-%d %H:%M UTC}.{who}", "good"))
        actions: list[ac.Action] = []
    else:
        body.append(text("Diagnose now checks the tenant in a reply to this alert.", size="Small"))
        actions = [execute("Diagnose now", DiagnoseAlert(incident_id=incident), style="positive")]
        if view.taken is None:
            actions.append(execute("I'm on it", Acknowledge(incident_id=incident)))
    fallback = f"{title}: {overall.count} failures in the last {window} ({usually(overall.baseline)})."
    return build_card(body, fallback_text=fallback, actions=actions)


def build_back_to_normal_card(
    change: IncidentChange, window_minutes: float, taken: Taken | None = None
) -> dict[str, Any]:
    overall = change.overall
    body: list[ac.CardElement] = [
        *heading("Back to normal", f"Spike alert \u00b7 {change.at:%Y-%m-%d %H:%M} UTC"),
        text(
            f"Bulk enrollment failures are back to normal: {overall.count} in the last "
            f"{_window(window_minutes)} ({usually(overall.baseline)})."
            + (f" {plain(taken.name)} was on it." if taken else "")
        ),
    ]
    body.append(details("Resolved", [f"Alert id: {plain(change.incident_id)}"], "alert-details"))
    return build_card(body, fallback_text="Back to normal: bulk enrollment failures are back to their usual level.")
