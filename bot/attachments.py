"""Files and pasted images sent to the bot: found in the activity, downloaded within limits, read by kind in a
sandboxed worker process.

- A pasted image arrives as an attachment with `contentType` `image/*` and a `contentUrl` on the Bot Connector,
  fetched with the bot's own token; a file sent in a personal chat as
  `application/vnd.microsoft.teams.file.download.info` with a pre-authorised `content.downloadUrl` (no token).
- The bot's token goes only to a URL on the activity's own service URL (scheme, host and port); a file URL
  elsewhere is fetched without it, and only from `ATTACHMENT_FILE_HOSTS` over https; anything else is refused.
  URLs are judged by the parser the download uses (yarl, aiohttp's), and one with a user name or password in it,
  or a backslash (where parsers disagree on the host), is refused whatever host it seems to name.
- Teams' media service (`*.asm.skype.com`, `*.asyncgw.teams.microsoft.com`) never gets the token: it takes the
  Teams client's own (Skype) token, not a bot's, and Microsoft's Teams SDK guide "Receiving inline images" says to
  download a pasted image from the `image/*` attachment's `contentUrl` (the Bot Connector's
  `/v3/attachments/{id}/views/original`) and not from the `<img src>` (`…/objects/{id}/views/imgo`) of the HTML
  copy, which points there. An image offered only there is refused with what to send instead.
- Downloads have a timeout and a size cap enforced while streaming; nothing is written to the file system.
- Each kind is read by a reader, `reader(name: str, data: bytes) -> result`, a top-level (picklable) function,
  registered below with the file names it takes. It runs in a worker process with an address-space limit
  (RLIMIT_AS, inherited by anything it starts) and a hard timeout after which the worker is killed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

import aiohttp
import yarl

from bot.domain.device_logs import read_device_logs
from bot.domain.eventlogs import LOG_EXTENSIONS, LogError
from bot.errors import BotError
from bot.photo import PhotoRefused, read_photo
from bot.settings import Settings

log = logging.getLogger(__name__)

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
IGNORED_TYPES = ("text/html", "application/vnd.microsoft.card.")  # the copy of a pasted image, our own cards
MAX_PER_MESSAGE = 3


class AttachmentRefused(BotError):
    """An attachment that will not be read, with the reason in words a person can act on."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class ReaderRefused(ValueError):
    """Raised by a reader for content it will not read (not its format, a bomb, damaged): the message says why."""


@dataclass(frozen=True)
class Reader:
    read: Callable[[str, bytes], Any]  # top-level, picklable: runs in the worker
    extensions: tuple[str, ...]  # file names it takes, lower case
    content_type_prefix: str | None = None  # pasted attachments it takes by content type
    refused: tuple[type[Exception], ...] = (ReaderRefused,)  # its exceptions that mean "cannot read this"


# Every kind of attachment the bot reads, registered once.
READERS: dict[str, Reader] = {
    "image": Reader(
        read_photo,
        (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"),
        "image/",
        (ReaderRefused, PhotoRefused),
    ),
    "logs": Reader(read_device_logs, LOG_EXTENSIONS, None, (ReaderRefused, LogError)),
}


class Attachment(Protocol):
    """An attachment of an activity as botbuilder decodes it."""

    content_type: str | None
    content_url: str | None
    name: str | None
    content: Any


@dataclass(frozen=True)
class Incoming:
    kind: str
    name: str
    url: str
    with_token: bool


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    download_seconds: float = 30.0
    read_seconds: float = 30.0
    memory_bytes: int = 1024 * 1024 * 1024
    workers: int = 2
    file_hosts: tuple[str, ...] = ("*.sharepoint.com", "*.sharepoint.us", "*.sharepoint-mil.us", "*.sharepoint.cn")

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_bytes=settings.attachment_max_bytes,
            download_seconds=settings.attachment_download_seconds,
            read_seconds=settings.attachment_read_seconds,
            memory_bytes=settings.attachment_memory_mb * 1024 * 1024,
            workers=settings.attachment_workers,
            file_hosts=settings.attachment_file_hosts,
        )


def size_label(size: int) -> str:
    return f"{size / 1048576:.3g} MB" if size >= 1048576 else f"{max(1, round(size / 1024))} KB"


def what_we_read() -> str:
    names = sorted({e.lstrip(".") for r in READERS.values() for e in r.extensions})
    return ", ".join(n.upper() for n in names)


# Teams' media service (AMS): where the HTML copy of a pasted image points. Not the bot's to fetch (see above).
TEAMS_MEDIA_DOMAINS = ("asm.skype.com", "asyncgw.teams.microsoft.com")


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) as aiohttp will connect, the default port filled in; None for a URL that does not
    parse, names a user or password, or has a backslash (a host parsers read differently)."""
    if "\\" in url:
        return None
    try:
        parts = yarl.URL(url)
    except (ValueError, UnicodeError):
        return None
    if parts.user is not None or parts.password is not None:
        return None
    return ((parts.scheme or "").lower(), (parts.host or "").lower(), parts.port)


def teams_media(host: str) -> bool:
    return any(host == d or host.endswith("." + d) for d in TEAMS_MEDIA_DOMAINS)


def _host_allowed(origin: tuple[str, str, int | None], patterns: Sequence[str]) -> bool:
    """A pattern is a host ("files.example"), a domain and its subdomains ("*.sharepoint.com"), both over https
    only, or one exact origin with its scheme ("http://127.0.0.1:8080", for a local test server)."""
    scheme, host, _ = origin
    for pattern in patterns:
        pattern = pattern.lower().rstrip("/")
        if "://" in pattern:
            if _origin(pattern) == origin:
                return True
        elif scheme == "https" and (host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))):
            return True
    return False


def route(url: str, service_url: str, file_hosts: Sequence[str]) -> bool:
    """Whether to send the bot's token to `url`: True on the activity's own Bot Connector (same scheme, host and
    port), False on an allowed file host; refused (AttachmentRefused) anywhere else."""
    origin, service = _origin(url), _origin(service_url)
    if origin is None or origin[0] not in ("https", "http") or not origin[1]:
        raise AttachmentRefused("the attachment", "its address is not a web address I may fetch")
    if service is not None and origin == service:
        return True
    if _host_allowed(origin, file_hosts):
        return False
    if teams_media(origin[1]):
        raise AttachmentRefused(
            "the attachment",
            f"Teams offered it only on its media service ({origin[1]}), which opens for your Teams app, not for a "
            "bot. Send the photo as a file (the paperclip, in a chat with me) or type the error",
        )
    raise AttachmentRefused("the attachment", f"it is stored on {origin[1]}, where I do not fetch files from")


def _kind_for(name: str, content_type: str) -> str | None:
    lowered = name.lower()
    for kind, reader in READERS.items():
        if reader.content_type_prefix and content_type.startswith(reader.content_type_prefix):
            return kind
        if lowered.endswith(reader.extensions):
            return kind
    return None


def find_attachments(
    attachments: Sequence[Attachment], service_url: str, limits: Limits
) -> tuple[list[Incoming], list[AttachmentRefused]]:
    """The attachments to read, and the ones refused (with why), from an activity's attachments. Our cards and
    the HTML copy of a pasted image are not attachments to read."""
    found: list[Incoming] = []
    refused: list[AttachmentRefused] = []
    for attachment in attachments:
        content_type = (attachment.content_type or "").lower()
        if not content_type or content_type.startswith(IGNORED_TYPES):
            continue
        content = attachment.content if isinstance(attachment.content, dict) else {}
        unnamed = "the pasted image" if content_type.startswith("image/") else "the attachment"
        name = str(attachment.name or content.get("name") or unnamed)[:200]
        if content_type == FILE_DOWNLOAD_INFO:
            url = content.get("downloadUrl")
            file_type = str(content.get("fileType") or "")
            kind = _kind_for(name if "." in name else f"{name}.{file_type}", "")
        else:
            url = attachment.content_url
            kind = _kind_for(name, content_type)
        if kind is None:
            refused.append(AttachmentRefused(name, f"I read only these files: {what_we_read()}"))
            continue
        if not isinstance(url, str) or not url:
            refused.append(AttachmentRefused(name, "Teams sent no address to download it from"))
            continue
        try:
            with_token = route(url, service_url, limits.file_hosts)
        except AttachmentRefused as exc:
            refused.append(AttachmentRefused(name, exc.reason))
            continue
        if content_type == FILE_DOWNLOAD_INFO:
            with_token = False  # pre-authorised: a token there would only be a token given away
        found.append(Incoming(kind, name, url, with_token))
    if len(found) > MAX_PER_MESSAGE:
        for extra in found[MAX_PER_MESSAGE:]:
            refused.append(AttachmentRefused(extra.name, f"I read at most {MAX_PER_MESSAGE} files from one message"))
        found = found[:MAX_PER_MESSAGE]
    return found, refused


async def download(
    session: aiohttp.ClientSession, incoming: Incoming, authorization: str | None, limits: Limits
) -> bytes:
    """The attachment's bytes, at most `limits.max_bytes` (checked on the declared length, then while reading),
    within `limits.download_seconds`. No redirects: a redirect could carry the request (and the token) away."""
    headers = {"Authorization": authorization} if incoming.with_token and authorization else {}
    too_big = AttachmentRefused(incoming.name, f"it is larger than {size_label(limits.max_bytes)}, the most I take")
    try:
        async with asyncio.timeout(limits.download_seconds):
            async with session.get(incoming.url, headers=headers, allow_redirects=False) as response:
                if response.status != 200:
                    raise AttachmentRefused(incoming.name, f"downloading it failed (HTTP {response.status})")
                if response.content_length is not None and response.content_length > limits.max_bytes:
                    raise too_big
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise too_big
                    chunks.append(chunk)
                return b"".join(chunks)
    except TimeoutError as exc:
        raise AttachmentRefused(
            incoming.name, f"downloading it took longer than {limits.download_seconds:g} seconds"
        ) from exc
    except aiohttp.ClientError as exc:
        raise AttachmentRefused(incoming.name, f"downloading it failed ({type(exc).__name__})") from exc


def _work(connection: Connection, reader: Reader, name: str, data: bytes, memory_bytes: int) -> None:
    """In the worker process: limit the address space, read, send back the result or why not."""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        connection.send(("ok", reader.read(name, data)))
    except reader.refused as exc:
        connection.send(("refused", str(exc)))
    except MemoryError:
        connection.send(("memory", ""))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which logs it and answers the person
        connection.send(("error", f"{type(exc).__name__}: {exc}"[:500]))
    finally:
        connection.close()


class Sandbox:
    """Runs readers in worker processes (forkserver: never a fork of the threaded bot), a few at a time."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["__main__", "bot.attachments"])  # __main__ imported once, not per worker
        self._slots = asyncio.Semaphore(limits.workers)

    async def read(self, kind: str, name: str, data: bytes) -> Any:
        async with self._slots:
            return await asyncio.to_thread(self._run, READERS[kind], name, data)

    def _run(self, reader: Reader, name: str, data: bytes) -> Any:
        receiving, sending = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_work, args=(sending, reader, name, data, self.limits.memory_bytes), daemon=True
        )
        process.start()
        sending.close()
        try:
            if not receiving.poll(self.limits.read_seconds):
                raise AttachmentRefused(name, f"reading it took longer than {self.limits.read_seconds:g} seconds")
            try:
                status, value = receiving.recv()
            except EOFError as exc:
                raise AttachmentRefused(name, "reading it used more memory than I allow") from exc
        finally:
            if process.is_alive():
                process.kill()
            process.join(5)
            receiving.close()
        if status == "ok":
            return value
        if status == "refused":
            raise AttachmentRefused(name, value)
        if status == "memory":
            raise AttachmentRefused(name, "reading it used more memory than I allow")
        log.error("reading attachment %r failed in the worker: %s", name, value)
        raise AttachmentRefused(name, "reading it failed on my side")


class AttachmentIntake:
    """Downloads (one connection pool, made on first use) and the sandbox, for the handlers."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._sandbox: Sandbox | None = None
        self._session: aiohttp.ClientSession | None = None

    async def fetch_and_read(self, incoming: Incoming, authorization: str | None) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        data = await download(self._session, incoming, authorization, self.limits)
        if self._sandbox is None:
            self._sandbox = Sandbox(self.limits)
        return await self._sandbox.read(incoming.kind, incoming.name, data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
