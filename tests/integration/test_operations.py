"""Operations: readiness, Prometheus metrics, JSON logs with correlation ids, and no secret ever logged."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.observability import Redactor, configure_logging
from tests.support.activities import message


async def test_readyz_checks_storage_and_graph(bot, bot_factory):
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready", "storage": "ok", "graph": "ok"}
    broken = await bot_factory(GRAPH_CLIENT_SECRET="wrong")
    async with broken.session.get(f"{broken.url}/readyz") as response:
        body = await response.json()
        assert response.status == 503 and body["storage"] == "ok" and body["graph"].startswith("failing")


async def test_metrics_count_activities_diagnoses_and_graph_calls(bot, connector):
    await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    async with bot.session.get(f"{bot.url}/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert 'enrollment_doctor_activities_total{type="message"} 1.0' in text
    assert 'enrollment_doctor_diagnoses_total{source="chat"} 1.0' in text
    assert (
        'enrollment_doctor_graph_requests_total{operation="read the device registration policy",status="200"} 1.0'
        in text
    )
    assert 'enrollment_doctor_graph_request_seconds_count{operation="list the package accounts"} 1.0' in text


@pytest.fixture
def json_log():
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


async def test_logs_are_json_with_the_activity_id_and_never_a_secret(bot_factory, connector, sim, json_log):
    app = next(iter(sim.tenant.apps.values()))
    configure_logging("DEBUG", secrets=[app.client_secret], stream=json_log)
    bot = await bot_factory()
    activity = message(connector.url, "bulk enrollment failed")
    await bot.post(activity)
    # and a failing Graph call, whose error is logged with its traceback
    app.permissions = ()
    failing = message(connector.url, "bulk enrollment failed")
    bot2 = await bot_factory()
    await bot2.post(failing)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    ours = [line for line in lines if line.get("activityId") == activity["id"]]
    assert any("intent diagnose" in line["message"] for line in ours)
    assert any(line.get("activityId") == failing["id"] and line["level"] == "WARNING" for line in lines)
    everything = json_log.getvalue()
    assert app.client_secret not in everything
    assert "eyJ" not in everything  # no access token (the simulator's tokens are JWTs)
    assert "Bearer " not in everything


def test_the_redactor_masks_tokens_and_secret_values():
    redactor = Redactor(["s3cr3t-value"])
    text = redactor.scrub(
        "Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.sig client_secret=abc123&x=1 pw s3cr3t-value "
        '{"access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.x"}'
    )
    assert "eyJ" not in text and "abc123" not in text and "s3cr3t-value" not in text
    assert text.count("[redacted]") >= 4


async def test_a_database_outage_is_said_plainly_and_readyz_reports_it(bot, connector, sim):
    from app import DEPS
    from tests.support.cards import text_of

    status, _ = await bot.post(message(connector.url, "help"))
    assert status == 201 and connector.cards()  # the twin: with the database up, served
    connector.clear()
    await bot.app[DEPS].storage.close()  # the database goes away under the running bot
    sim.simulator.requests.clear()
    status, _ = await bot.post(message(connector.url, "A setup failure has occurred during bulk enrollment."))
    assert status == 201
    (card,) = connector.cards()
    assert "I can't reach my database right now" in text_of(card) and "Nothing was changed" in text_of(card)
    assert sim.simulator.requests == []
    async with bot.session.get(f"{bot.url}/readyz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["storage"].startswith("failing")


def test_a_secret_that_is_logged_is_redacted_on_the_way_out(json_log):
    """The log handler itself redacts: something that does log a secret (here on purpose) never shows it."""
    configure_logging("DEBUG", secrets=["the-client-secret-42"], stream=json_log)
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJib3QifQ.c2lnbmF0dXJl"
    some_library = logging.getLogger("azure.identity.fake")
    some_library.warning("sent Authorization: Bearer %s with client_secret=%s", token, "the-client-secret-42")
    try:
        raise RuntimeError(f"token endpoint said no to the-client-secret-42 and {token}")
    except RuntimeError:
        logging.getLogger("bot.graph").exception("could not get a token")
    everything = json_log.getvalue()
    assert "could not get a token" in everything and "sent Authorization" in everything  # it was logged
    assert "the-client-secret-42" not in everything
    assert token not in everything and "eyJ" not in everything
    assert everything.count("[redacted]") >= 3
