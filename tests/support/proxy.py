"""A forward proxy on loopback, as a corporate network has: CONNECT tunnels (HTTPS) and absolute-form requests
(plain HTTP), each target recorded. Enough of RFC 9110/9112 for the clients the bot uses."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class RecordingProxy:
    targets: list[str] = field(default_factory=list)  # "CONNECT host:port" or "POST http://host:port/path"
    url: str = ""
    _server: asyncio.base_events.Server | None = None

    async def start(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        self.targets.append(f"{method} {target}")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self._pipe_both(reader, writer, upstream_reader, upstream_writer)
            return
        # Absolute form: forward this one request to its origin, then pass the answer back and close.
        rest = target.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port or 80))
        headers = [h for h in header_lines if h and not h.lower().startswith(("proxy-", "connection:"))]
        upstream_writer.write(
            f"{method} /{path} {version}\r\n".encode("latin-1")
            + "\r\n".join([*headers, "Connection: close"]).encode("latin-1")
            + b"\r\n\r\n"
        )
        length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
        if length:
            upstream_writer.write(await reader.readexactly(length))
        await upstream_writer.drain()
        answer = await upstream_reader.read()
        writer.write(answer)
        await writer.drain()
        upstream_writer.close()
        writer.close()

    @staticmethod
    async def _pipe_both(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
