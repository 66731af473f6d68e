"""Alert cards: a spike of bulk enrollment failures, and the all-clear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import microsoft_teams.cards as ac

from bot.domain.spikes import CHAT, OVERALL, IncidentChange
from cards.common import TEXT_LIMIT, build_card, callout, execute, facts, heading, plain, short_account, show_all, text
from cards.verbs import StartDiagnosis

BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
KEY_LABELS = {OVERALL: "All bulk enrollment failures", CHAT: "People reporting it to me"}


@dataclass(frozen=True)
class AlertView:
    change: IncidentChange
    window_minutes: float
    accounts: tuple[str, ...] = ()  # package account UPNs involved, when known
    resolved_at: datetime | None = None


def sparkline(values: tuple[int, ...]) -> str:
    top = max(values, default=0)
    if top == 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(len(BARS) - 1, round(v / top * (len(BARS) - 1)))] for v in values)


def _label(key: str) -> str:
    return KEY_LABELS.get(key, key)


def _window(minutes: float) -> str:
    return f"{minutes:g} minutes" if minutes < 120 else f"{minutes / 60:g} hours"


def build_alert_card(view: AlertView) -> dict[str, Any]:
    change = view.change
    overall = change.overall
    window = _window(view.window_minutes)
    resolved = view.resolved_at is not None
    title = "Bulk enrollment failures are back to normal" if resolved else "Bulk enrollment failures are spiking"
    body: list[ac.CardElement] = [
        *heading(title, f"Alert {change.incident_id} \u00b7 {change.at.strftime('%Y-%m-%d %H:%M UTC')}"),
        text(
            f"**{overall.count}** failures in the last {window}; normal is about **{overall.baseline:.1f}**.",
        ),
    ]
    rows = [(_label(k.key), f"{k.count} (normal {k.baseline:.1f})") for k in change.keys if k.key != OVERALL]
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
    bucket = _window(view.window_minutes / 6)
    body.append(text("Trend", weight="Bolder", spacing="Medium"))
    # Teams renders the chart; clients that do not know Chart.VerticalBar show the text line instead.
    body.append(
        ac.VerticalBarChart(
            title=f"Failures per {bucket}",
            x_axis_title=f"last {len(change.trend)} periods of {bucket}, oldest first",
            data=[
                ac.VerticalBarChartDataValue(x=str(i + 1 - len(change.trend)), y=v) for i, v in enumerate(change.trend)
            ],
            fallback=text(f"{sparkline(change.trend)}  (failures per {bucket}, oldest first)"),
        )
    )
    body.append(text(" \u00b7 ".join(str(v) for v in change.trend), size="Small", is_subtle=True, spacing="None"))
    if resolved:
        body.append(callout("Resolved", f"Back to normal at {view.resolved_at:%Y-%m-%d %H:%M UTC}.", "good"))
        actions: list[ac.Action] = []
    else:
        body.append(text("Diagnose now checks the tenant's join permission and package accounts here.", size="Small"))
        actions = [execute("Diagnose now", StartDiagnosis(), style="positive")]
    fallback = f"{title}: {overall.count} failures in the last {window} (normal about {overall.baseline:.1f})."
    return build_card(body, fallback_text=fallback, actions=actions)


def build_back_to_normal_card(change: IncidentChange, window_minutes: float) -> dict[str, Any]:
    overall = change.overall
    body: list[ac.CardElement] = [
        *heading("Back to normal", f"Alert {change.incident_id}"),
        text(
            f"Bulk enrollment failures are back to normal: {overall.count} in the last "
            f"{_window(window_minutes)} (normal about {overall.baseline:.1f})."
        ),
    ]
    return build_card(body, fallback_text=f"Back to normal: alert {change.incident_id} is resolved.")
