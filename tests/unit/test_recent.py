"""The last card of each conversation (bot/recent.py): notes made while a write is on its way go in the next
write, one transaction for all of them, the newest card of a conversation winning; a failed write is said in
the log and the next note is written again."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from bot.recent import RecentCards
from bot.storage import open_storage
from bot.storage.sqlite import SqliteStore
from tests.support.clock import FakeClock


def card(title: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "body": [{"type": "TextBlock", "text": title, "size": "Large"}],
        "fallbackText": f"{title}: summary",
        "actions": [{"type": "Action.Execute", "title": "Check again", "verb": "diagnosis.recheck"}],
    }


class RecordingStore(SqliteStore):
    """The real SQLite store, noting each group of settings it is asked to write (and failing when told to)."""

    def __init__(self, inner: SqliteStore):
        super().__init__(inner._db)
        self.groups: list[list[str]] = []
        self.fail_next = False

    async def set_settings(self, values: dict[str, Any]) -> None:
        self.groups.append(sorted(values))
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        await super().set_settings(values)


async def _store(tmp_path: Path) -> RecordingStore:
    inner = await open_storage(f"sqlite:///{tmp_path / 'recent.db'}")
    assert isinstance(inner, SqliteStore)
    return RecordingStore(inner)


async def test_notes_made_during_a_write_share_the_next_one_and_the_newest_card_wins(tmp_path: Path):
    store = await _store(tmp_path)
    recent = RecentCards(store, FakeClock())
    await asyncio.gather(
        recent.remember("chat-1", card("Checking your tenant")),
        recent.remember("chat-2", card("Checking your tenant")),
        recent.remember("chat-2", card("Device settings")),
        recent.remember("chat-3", card("Checking your tenant")),
        recent.remember("chat-1", card("Join permissions")),
    )
    # the first alone (nothing was being written), then those made meanwhile in one transaction
    assert store.groups == [["last-card:chat-1"], ["last-card:chat-1", "last-card:chat-2", "last-card:chat-3"]]
    first, second, third = [await recent.last(c) for c in ("chat-1", "chat-2", "chat-3")]
    assert first is not None and first.title == "Join permissions"  # written after "Checking your tenant"
    assert first.summary == "Join permissions: summary" and first.actions[0]["verb"] == "diagnosis.recheck"
    assert second is not None and second.title == "Device settings"  # it replaced the older note while waiting
    assert third is not None and third.title == "Checking your tenant"
    await store.close()


async def test_a_quiet_bot_writes_each_note_at_once(tmp_path: Path):
    store = await _store(tmp_path)
    recent = RecentCards(store, FakeClock())
    await recent.remember("chat-1", card("Device settings"))
    await recent.remember("chat-1", card("Join permissions"))
    assert store.groups == [["last-card:chat-1"], ["last-card:chat-1"]]
    await store.close()


async def test_a_failed_write_is_logged_and_the_next_note_is_written(tmp_path: Path, caplog):
    store = await _store(tmp_path)
    recent = RecentCards(store, FakeClock())
    store.fail_next = True
    with caplog.at_level(logging.WARNING, logger="bot.recent"):
        await recent.remember("chat-1", card("Device settings"))
    assert "could not note the last card in chat-1: disk full" in caplog.text
    assert await recent.last("chat-1") is None
    await recent.remember("chat-1", card("Join permissions"))
    found = await recent.last("chat-1")
    assert found is not None and found.title == "Join permissions"
    await store.close()
