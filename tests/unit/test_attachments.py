"""The attachment intake's rules without the network: where the bot's token may go, which attachments are read,
and the image decoder fuzzed with damaged and hostile files (hypothesis, seeded)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from bot.attachments import FILE_DOWNLOAD_INFO, READERS, AttachmentRefused, Limits, find_attachments, route
from bot.photo import PhotoRefused, open_checked, prepare, tidy

SERVICE = "https://smba.trafficmanager.net/amer/"
FILE_HOSTS = Limits().file_hosts
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000")) // 10  # decoding is slower than an HTTP round trip


@dataclass
class Att:
    content_type: str | None = None
    content_url: str | None = None
    name: str | None = None
    content: Any = None


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("https://smba.trafficmanager.net/amer/v3/attachments/0-eus-d1/views/original", True),
        ("https://smba.trafficmanager.net/emea/v3/attachments/x/views/original", True),  # same host, other path
        ("https://contoso-my.sharepoint.com/personal/a/_layouts/15/download.aspx?tempauth=x", False),
        ("https://contoso.sharepoint.us/download.aspx", False),
        ("https://SMBA.trafficmanager.net:443/amer/v3/attachments/x/views/original", True),  # the same origin
    ],
)
def test_the_token_goes_only_to_the_activitys_own_bot_connector(url: str, token: bool):
    assert route(url, SERVICE, FILE_HOSTS) is token


@pytest.mark.parametrize(
    "url",
    [
        "http://smba.trafficmanager.net/amer/v3/attachments/x",  # same host, not https: another origin
        "https://smba.trafficmanager.net:8443/amer/v3/attachments/x",  # another port
        "https://smba.trafficmanager.net.evil.example/v3/attachments/x",
        "https://evil.example/x.png",
        "http://contoso-my.sharepoint.com/download.aspx",  # a file host, but not over https
        "https://sharepoint.com.evil.example/x",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://[::1/x",
        # Teams' media service, where the HTML copy of a pasted image points: never with the token
        "https://us-api.asm.skype.com/v1/objects/0-eus-d6-e92d/views/imgo",
        "https://us-prod.asyncgw.teams.microsoft.com/v1/objects/0-wus-d3-1a2b/views/original",
        # look-alikes of it and of the connector
        "https://us-api.asm.skype.com.evil.example/v1/objects/x/views/imgo",
        "https://evil-asm.skype.com/v1/objects/x/views/imgo",
        "https://asm.skype.com.evil.example/x",
        "http://us-api.asm.skype.com/v1/objects/x/views/imgo",
        "https://smba.trafficmanager.net./amer/v3/attachments/x",  # a trailing dot: another name to a parser
        # a user name or password, or a backslash: parsers disagree on which host such a URL names
        "https://smba.trafficmanager.net@evil.example/amer/v3/attachments/x",
        "https://evil.example\\@smba.trafficmanager.net/amer/v3/attachments/x",
        "https://user:secret@smba.trafficmanager.net/amer/v3/attachments/x",
        "https://evil.example#@smba.trafficmanager.net/amer/v3/attachments/x",
        "https://evil.example?@smba.trafficmanager.net/amer/v3/attachments/x",
        "https://smba.trafficmanager.net%40evil.example/amer/v3/attachments/x",
        "https://smba.trafficmanager.net\\.evil.example/x",
    ],
)
def test_anywhere_else_is_refused(url: str):
    with pytest.raises(AttachmentRefused):
        route(url, SERVICE, FILE_HOSTS)


def test_an_image_only_on_teams_media_service_is_refused_with_what_to_send_instead():
    found, refused = find_attachments(
        [Att("image/png", "https://us-api.asm.skype.com/v1/objects/0-eus-d6-e92d/views/imgo")], SERVICE, Limits()
    )
    assert found == [] and "only on its media service (us-api.asm.skype.com)" in refused[0].reason
    assert "Send the photo as a file" in refused[0].reason


def test_an_explicit_origin_allows_exactly_that_origin():
    assert route("http://127.0.0.1:8080/files/1", SERVICE, ("http://127.0.0.1:8080",)) is False
    with pytest.raises(AttachmentRefused):
        route("http://127.0.0.1:8081/files/1", SERVICE, ("http://127.0.0.1:8080",))


def test_which_attachments_are_read():
    attachments = [
        Att("image/png", SERVICE + "v3/attachments/1/views/original"),
        Att("text/html", content="<img src=...>"),
        Att("application/vnd.microsoft.card.adaptive", content={"type": "AdaptiveCard"}),
        Att(FILE_DOWNLOAD_INFO, name="screen.JPG", content={"downloadUrl": SERVICE + "files/2", "fileType": "jpg"}),
        Att(FILE_DOWNLOAD_INFO, name="report.docx", content={"downloadUrl": "https://x.sharepoint.com/3"}),
        Att("image/jpeg", "https://evil.example/4.jpg"),
        Att("image/gif", None),
    ]
    found, refused = find_attachments(attachments, SERVICE, Limits())
    assert [(f.kind, f.name, f.with_token) for f in found] == [
        ("image", "the pasted image", True),
        ("image", "screen.JPG", False),  # a file URL never gets the token, even on the connector's host
    ]
    assert [r.name for r in refused] == ["report.docx", "the pasted image", "the pasted image"]
    assert "I read only these files" in refused[0].reason and "where I do not fetch files from" in refused[1].reason


def test_at_most_a_few_attachments_per_message():
    many = [Att("image/png", SERVICE + f"v3/attachments/{i}/views/original") for i in range(5)]
    found, refused = find_attachments(many, SERVICE, Limits())
    assert len(found) == 3 and len(refused) == 2 and "at most 3" in refused[0].reason


def test_readers_are_top_level_functions():
    for reader in READERS.values():
        assert "." not in reader.read.__qualname__ and reader.read.__module__.startswith("bot.")


def test_ocr_text_is_tidied():
    assert tidy("Error code: Ox80180014\n\n  ") == "Error code: 0x80180014"
    assert tidy("ー括登録 中 に セッ ト ア ッ プ") == "一括登録中にセットアップ"  # long mark at a kanji: the kanji one
    assert tidy("セーブ") == "セーブ"  # after kana it is the long mark


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 40), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


SAMPLES = [_image(f) for f in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow says what it skipped in a damaged TIFF
@seed(20)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(damaged(), st.binary(max_size=512)))
def test_a_damaged_or_hostile_image_is_refused_cleanly(data: bytes):
    """Whatever the bytes: an image ready for OCR, or PhotoRefused with a reason; never another error."""
    try:
        image = prepare(open_checked(data))
    except PhotoRefused as exc:
        assert str(exc)
        return
    assert image.mode == "L" and max(image.size) <= 2400


@seed(20)
@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(
        st.builds(
            Att,
            st.one_of(st.none(), st.sampled_from(["image/png", "image/", FILE_DOWNLOAD_INFO, "text/html"]), st.text()),
            st.one_of(st.none(), st.text(max_size=80), st.sampled_from([SERVICE + "v3/a", "https://x.sharepoint.com"])),
            st.one_of(st.none(), st.text(max_size=300)),
            st.one_of(st.none(), st.text(), st.dictionaries(st.text(max_size=12), st.one_of(st.text(), st.integers()))),
        ),
        max_size=6,
    )
)
def test_any_attachment_list_is_sorted_into_read_and_refused(attachments: list[Att]):
    found, refused = find_attachments(attachments, SERVICE, Limits())
    assert len(found) <= 3
    for incoming in found:
        assert incoming.kind in READERS and len(incoming.name) <= 200
        assert not incoming.with_token or incoming.url.startswith("https://smba.trafficmanager.net/")
    assert all(r.reason for r in refused)
