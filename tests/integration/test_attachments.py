"""Photos and files sent to the bot, over real HTTP: the recording Bot Connector keeps the bytes (as Teams does)
and the bot downloads them, reads them in its sandbox and answers. OCR runs on a few photos only here; the
whole corpus is in `bench/ocr_compare.py`."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache
from typing import Any

import pytest
from PIL import Image

from tests.conftest import _serve
from tests.support.activities import message
from tests.support.cards import text_of
from tests.support.connector import RecordingConnector
from tests.support.photos import PHONE, corpus

SMALL = (2016, 1512)  # a phone photo as Teams often delivers it, downscaled: keeps the test quick


@cache
def photo(name: str, size: tuple[int, int] = SMALL) -> bytes:
    (shot,) = [p for p in corpus(size=size, only={name.rsplit("-", 2)[0]}) if p.name == name]
    return shot.data


def with_attachments(service_url: str, attachments: list[dict[str, Any]], text: str = "") -> dict[str, Any]:
    activity = message(service_url, text)
    activity["attachments"] = attachments
    return activity


def pasted(url: str, content_type: str = "image/jpeg") -> list[dict[str, Any]]:
    """A pasted image as Teams sends it: the image, and an HTML copy pointing at the same URL."""
    return [
        {"contentType": content_type, "contentUrl": url},
        {"contentType": "text/html", "content": f'<div><img src="{url}"></div>'},
    ]


def sent_file(url: str, name: str) -> list[dict[str, Any]]:
    return [
        {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": name,
            "contentUrl": "https://contoso-my.sharepoint.com/personal/adele/Documents/" + name,
            "content": {"downloadUrl": url, "uniqueId": "1", "fileType": name.rsplit(".", 1)[-1]},
        }
    ]


def first_card(connector: RecordingConnector) -> dict[str, Any]:
    """The first card sent, as it was sent (before any update replaced it); typing indicators come first."""
    return next(a["attachments"][0]["content"] for a in connector.sent if a.get("attachments"))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` x `height`: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


async def test_a_photo_of_the_error_starts_the_diagnosis_and_shows_what_was_read(bot, connector, sim):
    connector.files["shot-en"] = photo("english-oobe-dark")
    status, _ = await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("shot-en"))))
    assert status == 201
    first = first_card(connector)  # the checking card as first sent
    assert first["fallbackText"].startswith("Checking your tenant")
    shown = text_of(first)
    assert "Read from the photo" in shown and "A setup failure has occurred during bulk enrollment" in shown
    (card,) = connector.cards()  # then replaced by step 1
    assert "Users may join devices" in text_of(card)
    assert any(r["route"] == "policy.get" for r in sim.simulator.requests)


@pytest.mark.parametrize("name", ["german-settings-dark", "japanese-settings-dark"])
async def test_a_photo_of_the_error_in_another_language_starts_the_diagnosis(bot, connector, sim, name):
    connector.files["shot"] = photo(name)
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("shot"))))
    first = first_card(connector)
    assert first["fallbackText"].startswith("Checking your tenant"), text_of(first)
    assert "Read from the photo" in text_of(first)


# Two that Tesseract read as nothing or garbage at 12 megapixels when East Asian text was read as a page (the dark
# out-of-box screen's frame, the Settings screen's columns): the column mode reads them (README).
@pytest.mark.parametrize("name", ["japanese-oobe-dark", "korean-settings-light"])
async def test_the_hardest_east_asian_photos_start_the_diagnosis(bot_factory, connector, sim, name):
    bot = await bot_factory(ATTACHMENT_READ_SECONDS="120")  # 12 megapixels on a loaded test machine: not a limit test
    connector.files["shot"] = photo(name, PHONE)
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("shot"))))
    first = first_card(connector)
    assert first["fallbackText"].startswith("Checking your tenant"), text_of(first)


async def test_a_photo_of_something_else_does_not_start_one(bot, connector, sim):
    connector.files["autopilot"] = photo("autopilot-0x80180022-settings-light")
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("autopilot"))))
    (card,) = connector.cards()
    shown = text_of(card)
    assert "does not show the bulk enrollment error" in shown
    assert "Windows Autopilot" in shown and "0x80180022" in shown  # what it looks like, from what was read
    assert "a sharper photo" in shown and "the error typed" in shown
    assert not any(r["route"] == "policy.get" for r in sim.simulator.requests)


async def test_a_photo_of_another_error_in_the_same_language_does_not_start_one(bot, connector, sim):
    """Half of its sentence is the error's ("…中に…エラーが発生しました"): the fuzzy match must not take it."""
    connector.files["ja"] = photo("japanese-autopilot-profile-oobe-light")
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("ja"))))
    (card,) = connector.cards()
    shown = text_of(card)
    assert "does not show the bulk enrollment error" in shown and "Autopilot" in shown
    assert not any(r["route"] == "policy.get" for r in sim.simulator.requests)


async def test_a_photo_with_no_text_says_so(bot, connector, sim):
    blank = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 120, 200)).save(blank, "JPEG")
    connector.files["sky"] = blank.getvalue()
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("sky"))))
    (card,) = connector.cards()
    assert "I found no text in" in text_of(card) and "a sharper photo" in text_of(card)
    assert not sim.simulator.requests


@pytest.mark.parametrize("mode", ["plain", "stream"])
async def test_an_oversize_file_is_refused_while_downloading(bot_factory, connector, sim, mode):
    bot = await bot_factory(ATTACHMENT_MAX_MB="0.05")  # 52 KB
    big = photo("english-oobe-dark")
    connector.files["big"] = big if mode == "plain" else ("stream", big)
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("big"))))
    (card,) = connector.cards()
    assert "it is larger than 51 KB, the most I take" in text_of(card)  # the cap, as set
    assert not sim.simulator.requests


@pytest.mark.parametrize(
    ("width", "height", "said"),
    [(100_000, 100_000, "it declares more than 40 megapixels"), (10_000, 5_000, "it is 10000x5000 pixels, more than")],
)
async def test_a_decompression_bomb_is_refused_before_decoding(bot, connector, sim, width, height, said):
    connector.files["bomb"] = png_claiming(width, height)
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("bomb"), "image/png")))
    (card,) = connector.cards()
    assert said in text_of(card)
    assert not sim.simulator.requests


async def test_a_file_that_is_not_an_image_or_a_kind_we_read_is_refused(bot, connector, sim):
    connector.files["fake"] = b"%PDF-1.7 not an image at all"
    attachments = [
        *pasted(connector.attachment_url("fake"), "image/png"),
        *sent_file(connector.file_url("doc"), "notes.docx"),
    ]
    await bot.post(with_attachments(connector.url, attachments))
    (card,) = connector.cards()
    shown = text_of(card)
    assert "not an image I can read" in shown
    assert "notes.docx" in shown and "I read only these files" in shown
    assert [d.activity_id for d in connector.downloads] == ["fake"]  # the .docx was never downloaded


async def test_a_slow_download_and_a_slow_read_each_get_a_clear_answer(bot_factory, connector, sim):
    bot = await bot_factory(ATTACHMENT_DOWNLOAD_SECONDS="0.3", ATTACHMENT_READ_SECONDS="0.2")
    connector.files["slow"] = ("slow", photo("english-oobe-dark"))
    connector.files["heavy"] = photo("english-oobe-dark")
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("slow"))))
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("heavy"))))
    first, second = (text_of(c) for c in connector.cards())
    assert "downloading it took longer than 0.3 seconds" in first
    assert "reading it took longer than 0.2 seconds" in second


async def test_a_file_sent_in_a_personal_chat_is_read_from_its_download_url(bot, connector, sim):
    connector.files["sent"] = photo("english-oobe-dark")
    await bot.post(with_attachments(connector.url, sent_file(connector.file_url("sent"), "IMG_0042.JPG")))
    first = first_card(connector)
    assert "Read from the photo IMG\\\\_0042.JPG" in str(first) or "Read from the photo IMG_0042.JPG" in text_of(first)
    assert connector.downloads[0].activity_id == "sent"


@pytest.fixture
async def elsewhere() -> Any:
    """Another web server, on another port: a host that is not the Bot Connector of the activity."""
    recorder = RecordingConnector()
    runner, url = await _serve(recorder.app())
    recorder.url = url
    yield recorder
    await runner.cleanup()


BOT_TOKEN = "bot-connector-token-for-this-test"


@pytest.fixture
def bot_token(monkeypatch):
    """The bot's outbound Bot Connector token. It comes from Microsoft's identity platform, which is not
    reachable here: only that call is replaced; everything on the wire is real."""
    from botframework.connector.auth import MicrosoftAppCredentials

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", lambda self, force_refresh=False: BOT_TOKEN)


async def test_the_bot_token_goes_only_to_the_bot_connector(
    bot_factory, connector, sim, elsewhere, bot_token, tmp_path, clock
):
    from tests.support.activities import TENANT
    from tests.support.openid import APP_ID, start_token_service

    service, runner = await start_token_service(tmp_path / "openid")
    try:
        bot = await bot_factory(
            MicrosoftAppId=APP_ID,
            MicrosoftAppPassword="secret",
            MicrosoftAppTenantId=TENANT,
            BOT_OPENID_METADATA_URL=service.metadata_url,
            BOT_OPENID_CA_BUNDLE=str(service.ca_pem),
            ATTACHMENT_FILE_HOSTS=elsewhere.url,  # allowed as a file host: fetched, but never with the token
        )

        async def send(attachments: list[dict[str, Any]]) -> None:
            token = service.token(connector.url, now=clock.now().timestamp())
            status, _ = await bot.post(
                with_attachments(connector.url, attachments), headers={"Authorization": f"Bearer {token}"}
            )
            assert status == 201

        blank = io.BytesIO()
        Image.new("RGB", (400, 300), (200, 200, 200)).save(blank, "PNG")
        for recorder in (connector, elsewhere):
            recorder.files["img"] = blank.getvalue()
        await send(pasted(connector.attachment_url("img"), "image/png"))
        await send(pasted(elsewhere.attachment_url("img"), "image/png"))
        await send(sent_file(connector.file_url("img"), "screen.png"))
        on_connector = [d.headers.get("Authorization") for d in connector.downloads]
        assert on_connector == [f"Bearer {BOT_TOKEN}", None]  # the pasted image with it; the file URL without
        assert [d.headers.get("Authorization") for d in elsewhere.downloads] == [None]
        assert all(c.headers.get("Authorization") == f"Bearer {BOT_TOKEN}" for c in connector.calls)  # replies
    finally:
        service.release.set()
        await runner.cleanup()


async def test_a_host_that_is_not_allowed_is_never_contacted(bot, connector, sim, elsewhere):
    elsewhere.files["img"] = photo("english-oobe-dark")
    await bot.post(with_attachments(connector.url, pasted(elsewhere.attachment_url("img"))))
    (card,) = connector.cards()
    assert "where I do not fetch files from" in text_of(card)
    assert elsewhere.downloads == []


async def test_a_redirect_from_the_connector_is_not_followed_so_the_token_stays(
    bot_factory, connector, sim, elsewhere, bot_token, tmp_path, clock
):
    from tests.support.activities import TENANT
    from tests.support.openid import APP_ID, start_token_service

    service, runner = await start_token_service(tmp_path / "openid")
    try:
        bot = await bot_factory(
            MicrosoftAppId=APP_ID,
            MicrosoftAppPassword="secret",
            MicrosoftAppTenantId=TENANT,
            BOT_OPENID_METADATA_URL=service.metadata_url,
            BOT_OPENID_CA_BUNDLE=str(service.ca_pem),
        )
        elsewhere.files["img"] = photo("english-oobe-dark")
        connector.files["moved"] = ("redirect", elsewhere.attachment_url("img"))
        token = service.token(connector.url, now=clock.now().timestamp())
        status, _ = await bot.post(
            with_attachments(connector.url, pasted(connector.attachment_url("moved"))),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert status == 201
        assert [d.headers.get("Authorization") for d in connector.downloads] == [f"Bearer {BOT_TOKEN}"]
        assert elsewhere.downloads == []  # the redirect was not followed: neither the request nor the token went
        assert "downloading it failed (HTTP 302)" in text_of(connector.cards()[-1])
    finally:
        service.release.set()
        await runner.cleanup()


async def test_an_image_only_on_teams_media_service_gets_what_to_send_instead(bot, connector, sim):
    ams = "https://us-api.asm.skype.com/v1/objects/0-eus-d6-e92d3c6069d8c5e73e95c8b8776c512e/views/imgo"
    await bot.post(with_attachments(connector.url, pasted(ams)))
    (card,) = connector.cards()
    assert "only on its media service (us-api.asm.skype.com)" in text_of(card)
    assert "Send the photo as a file" in text_of(card)
    assert sim.simulator.requests == []


async def test_a_read_that_needs_more_memory_than_allowed_is_stopped(bot_factory, connector, sim):
    bot = await bot_factory(ATTACHMENT_MEMORY_MB="64")  # less than Tesseract's Latin model alone
    connector.files["shot"] = photo("english-oobe-dark")
    await bot.post(with_attachments(connector.url, pasted(connector.attachment_url("shot"))))
    (card,) = connector.cards()
    assert "reading it used more memory than I allow" in text_of(card)
    assert not sim.simulator.requests
