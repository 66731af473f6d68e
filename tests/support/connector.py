"""A recording Bot Connector on loopback: the bot's replies and updates land here over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    conversation_id: str
    activity_id: str | None  # the activity replied to (send) or updated (update)
    activity: dict[str, Any]
    sent_id: str | None = None  # the id this connector gave a sent activity
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordingConnector:
    calls: list[Recorded] = field(default_factory=list)
    url: str = ""
    members: list[dict[str, Any]] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)  # conversations the bot was removed from
    # How the next sends fail, one entry each: "502-html", "500-text", "429", "hang" (then they succeed)
    faults: list[str] = field(default_factory=list)
    attempts: int = 0
    # What Teams keeps for the bot: pasted images under /v3/attachments/{id}/views/original, files at
    # /files/{id} (as a pre-authorised download URL). A value is bytes, or ("slow", bytes) to stall before
    # answering, or ("stream", bytes) to answer without a Content-Length, or ("redirect", url) to send elsewhere.
    files: dict[str, Any] = field(default_factory=dict)
    downloads: list[Recorded] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._members)
        app.router.add_get("/v3/attachments/{fid}/views/{view}", self._file)
        app.router.add_get("/files/{fid}", self._file)
        return app

    def attachment_url(self, file_id: str) -> str:
        return f"{self.url}/v3/attachments/{file_id}/views/original"

    def file_url(self, file_id: str) -> str:
        return f"{self.url}/files/{file_id}?tempauth=pre-authorised"

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.downloads.append(Recorded("get", "", request.match_info["fid"], {}, None, dict(request.headers)))
        stored = self.files.get(request.match_info["fid"])
        if stored is None:
            return web.Response(status=404)
        mode, data = stored if isinstance(stored, tuple) else ("plain", stored)
        if mode == "redirect":
            raise web.HTTPFound(data)
        if mode == "slow":
            await asyncio.sleep(1.5)
        if mode == "stream":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(data), 65536):
                await response.write(data[start : start + 65536])
            await response.write_eof()
            return response
        return web.Response(body=data, content_type="application/octet-stream")

    async def _members(self, request: web.Request) -> web.Response:
        return web.json_response({"members": self.members})

    async def _fault(self) -> web.Response | None:
        self.attempts += 1
        if not self.faults:
            return None
        fault = self.faults.pop(0)
        if fault == "hang":
            await asyncio.sleep(1.5)  # longer than the test's timeout, short enough to let the server stop
        if fault == "429":
            return web.json_response(
                {"error": {"code": "Throttled", "message": "slow down"}}, status=429, headers={"Retry-After": "1"}
            )
        if fault == "502-html":
            return web.Response(status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html")
        return web.Response(status=500, text="Internal Server Error", content_type="text/plain")

    async def _send(self, request: web.Request) -> web.Response:
        fault = await self._fault()
        if fault is not None:
            return fault
        if request.match_info["cid"] in self.forbidden:
            return web.json_response(
                {"error": {"code": "BotNotInConversationRoster", "message": "The bot is not part of the roster."}},
                status=403,
            )
        body = await request.json()
        sent_id = f"activity-{next(self._ids)}"
        self.calls.append(
            Recorded(
                "send", request.match_info["cid"], request.match_info.get("aid"), body, sent_id, dict(request.headers)
            )
        )
        return web.json_response({"id": sent_id})

    async def _update(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(
            Recorded("update", request.match_info["cid"], request.match_info["aid"], body, None, dict(request.headers))
        )
        return web.json_response({"id": request.match_info["aid"]})

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [c.activity for c in self.calls if c.method == "send"]

    def cards(self) -> list[dict[str, Any]]:
        """The cards sent, each as it stands now (a later update of the same activity replaces it)."""
        out = []
        for call in self.calls:
            if call.method != "send":
                continue
            for attachment in call.activity.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append(self.latest(call.sent_id) or attachment["content"])
        return out

    def latest(self, activity_id: str | None) -> dict[str, Any] | None:
        """The newest card put in place of activity `activity_id` by an update, if any."""
        for call in reversed(self.calls):
            if call.method == "update" and call.activity_id == activity_id:
                for attachment in call.activity.get("attachments") or []:
                    if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                        return attachment["content"]
        return None

    def cards_in(
        self, conversation_id: str, method: str = "send", *, current: bool = True
    ) -> list[tuple[str | None, dict[str, Any]]]:
        """(activity id, card) of the cards sent to (each as it stands now, unless `current` is False) or
        updated in one conversation, in order."""
        out = []
        for call in self.calls:
            if call.method != method or call.conversation_id.split(";")[0] != conversation_id.split(";")[0]:
                continue
            for attachment in call.activity.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    card = attachment["content"]
                    if method == "send" and current:  # as it stands now: a later update replaces it
                        card = self.latest(call.sent_id) or card
                    out.append((call.activity_id, card))
        return out

    def texts_in(self, conversation_id: str) -> list[str]:
        return [
            c.activity.get("text") or ""
            for c in self.calls
            if c.method == "send" and c.conversation_id == conversation_id and c.activity.get("type") == "message"
        ]

    def sent_cards(self, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(the id this connector gave it, the card as it stands now) of each card sent to a conversation (its
        threads included), in order: every copy of every card, each at its latest version."""
        out = []
        for call in self.calls:
            if call.method != "send" or call.conversation_id.split(";")[0] != conversation_id.split(";")[0]:
                continue
            for attachment in call.activity.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append((str(call.sent_id), self.latest(call.sent_id) or attachment["content"]))
        return out

    def news_in(self, conversation_id: str) -> list[tuple[str | None, str]]:
        """(the message it answers: the activity replied to, or the channel thread's first post; text) of each text
        message sent to a conversation, its threads included, in order."""
        out = []
        for call in self.calls:
            base, _, thread = call.conversation_id.partition(";messageid=")
            if call.method != "send" or base != conversation_id.split(";")[0] or call.activity.get("attachments"):
                continue
            out.append((call.activity_id or thread or None, call.activity.get("text") or ""))
        return out

    def clear(self) -> None:
        self.calls.clear()
