"""Arriving in a chat or a team: the bot introduces itself once per conversation, across both install
notifications, restarts and replicas (the claim is in the database)."""

from __future__ import annotations

from tests.support.activities import CHANNEL, PERSONAL, installed, message
from tests.support.cards import text_of


async def test_a_personal_install_is_welcomed_once(bot_factory, connector, tmp_path):
    url = f"sqlite:///{tmp_path}/bot.db"
    bot = await bot_factory(DATABASE_URL=url)
    for kind in ("installationUpdate", "conversationUpdate", "conversationUpdate"):
        status, _ = await bot.post(installed(connector.url, kind=kind))
        assert status in (200, 201, 202)
    cards = connector.cards_in(PERSONAL)
    assert len(cards) == 1
    words = text_of(cards[0][1])
    assert "Hi, I'm Enrollment Doctor" in words and "diagnosis.start" in words
    assert "use this channel for approvals" not in words
    # another replica (or a restart) over the same database does not welcome again
    other = await bot_factory(DATABASE_URL=url)
    await other.post(installed(connector.url))
    assert len(connector.cards_in(PERSONAL)) == 1


async def test_a_team_install_also_says_how_to_make_the_admins_channel(bot, connector):
    await bot.post(installed(connector.url, conversation_type="channel"))
    (card,) = [c for _, c in connector.cards_in(CHANNEL)]
    assert "use this channel for approvals" in text_of(card)


async def test_a_member_joining_is_no_install(bot, connector):
    joined = installed(connector.url)
    joined["membersAdded"] = [{"id": "29:someone-else"}]
    await bot.post(joined)
    assert connector.cards() == []
    await bot.post(message(connector.url, "help"))  # and the bot still answers
    assert connector.cards()
