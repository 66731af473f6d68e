"""The HTTP edge: POST /api/messages (400/401/403/413, never a stack trace) and GET /healthz."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from botbuilder.core import ActivityHandler
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from bot.handlers.context import activity_tenant_id
from bot.observability import Metrics, activity_id
from bot.settings import Settings

log = logging.getLogger(__name__)

CONVERSATIONAL = {"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction"}


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"status": status, "message": message}}, status=status)


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object (a Bot Framework activity)"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "the activity has no type"
    if body["type"] in CONVERSATIONAL:
        for key in ("conversation", "from", "recipient"):
            if not isinstance(body.get(key), dict) or not body[key].get("id"):
                return f"the activity has no {key}.id"
        if not isinstance(body.get("serviceUrl"), str) or not body["serviceUrl"].startswith(("http://", "https://")):
            return "the activity has no valid serviceUrl"
    if body["type"] == "message" and body.get("text") is not None and not isinstance(body["text"], str):
        return "text must be a string"
    return None


def _serialize(body: Any) -> Any:
    if body is None or isinstance(body, (dict, list, str, int, float)):
        return body
    serialize = getattr(body, "serialize", None)
    return serialize() if callable(serialize) else body


def make_messages_handler(settings: Settings, adapter: CloudAdapter, bot: ActivityHandler, metrics: Metrics):
    async def messages(request: web.Request) -> web.Response:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _problem(415, "expected Content-Type: application/json")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _problem(413, f"the activity is larger than {settings.max_body_bytes} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            return _problem(400, "the body is not valid JSON")
        problem = _validate(body)
        if problem:
            return _problem(400, problem)
        try:
            activity = Activity().deserialize(body)
        except Exception as exc:  # noqa: BLE001 - msrest raises several types for bad shapes
            log.info("refused an undeserializable activity: %s", exc)
            return _problem(400, "the activity does not have the Bot Framework shape")
        activity_id.set(activity.id or None)  # the correlation id of every log line of this turn
        metrics.messages.labels(activity.type or "unknown").inc()
        tenant = activity_tenant_id(activity)
        if tenant and tenant != settings.tenant_id or (not tenant and settings.auth_enabled):
            log.warning(
                "refused activity %s from tenant %s (this bot serves %s)", activity.id, tenant, settings.tenant_id
            )
            return _problem(403, "this bot serves another tenant")
        auth_header = request.headers.get("Authorization", "")
        try:
            invoke_response = await adapter.process_activity(auth_header, activity, bot.on_turn)
        except PermissionError as exc:
            log.warning("refused activity %s: %s", activity.id, exc)
            return _problem(401, "the request does not carry a valid Bot Framework token")
        if invoke_response is not None:
            return web.json_response(_serialize(invoke_response.body), status=invoke_response.status)
        return web.Response(status=201)

    return messages


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
