"""A recording Bot Connector on loopback: the bot's replies and updates land here over real HTTP."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    conversation_id: str
    activity_id: str | None
    activity: dict[str, Any]


@dataclass
class RecordingConnector:
    calls: list[Recorded] = field(default_factory=list)
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Recorded("send", request.match_info["cid"], request.match_info.get("aid"), body))
        return web.json_response({"id": f"activity-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Recorded("update", request.match_info["cid"], request.match_info["aid"], body))
        return web.json_response({"id": request.match_info["aid"]})

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [c.activity for c in self.calls if c.method == "send"]

    def cards(self) -> list[dict[str, Any]]:
        out = []
        for activity in self.sent:
            for attachment in activity.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append(attachment["content"])
        return out

    def clear(self) -> None:
        self.calls.clear()
