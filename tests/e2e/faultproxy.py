"""A fault-injecting proxy in front of the kube-apiserver, for the fault tests (tests/e2e/test_faults.py).

It terminates TLS with the cluster's serving certificate and re-originates every request to the API
server with a client certificate of its own choosing (the operator's), so the audit log still names the
operator. Each request gets its own upstream connection (`Connection: close`), so the proxy decides
request by request. While faults are on, a share of requests is answered 429 (with Retry-After) or 503
without reaching the API server, and every open stream (watches) is cut when the faults begin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from modelserve.localcluster.processes import free_port


@dataclass
class FaultStats:
    forwarded: int = 0
    answered: dict[int, int] = field(default_factory=dict)  # injected status -> count
    cut: int = 0


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        serving_cert: Path,
        serving_key: Path,
        ca_cert: Path,
        client_cert: Path,
        client_key: Path,
        seed: int = 18,
    ):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.stats = FaultStats()
        self._rate = 0.0
        self._random = random.Random(seed)
        self._server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_ctx.load_cert_chain(str(serving_cert), str(serving_key))
        self._client_ctx = ssl.create_default_context(cafile=str(ca_cert))
        self._client_ctx.load_cert_chain(str(client_cert), str(client_key))
        self._loop = asyncio.new_event_loop()
        self._open: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self._server_ctx), self._loop
        ).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def faults(self, rate: float) -> None:
        """Answer `rate` of the requests with 429 or 503 from now on (0: forward everything). Turning
        faults on also cuts every open stream, as an overloaded API server's restart would."""
        self._rate = rate
        if rate > 0:
            self._loop.call_soon_threadsafe(self._cut_all)

    def _cut_all(self) -> None:
        for writer in list(self._open):
            self.stats.cut += 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if self._rate and self._random.random() < self._rate:
                await self._answer(writer, self._random.choice((429, 503)))
                return
            await self._forward(head, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, code: int) -> None:
        self.stats.answered[code] = self.stats.answered.get(code, 0) + 1
        reason = "TooManyRequests" if code == 429 else "ServiceUnavailable"
        body = json.dumps(
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}
        ).encode()
        text = "Too Many Requests" if code == 429 else "Service Unavailable"
        writer.write(
            f"HTTP/1.1 {code} {text}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Retry-After: 1\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def _forward(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = head.decode("latin-1").split("\r\n")
        kept = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
        head = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port, ssl=self._client_ctx, server_hostname="127.0.0.1"
        )
        self._open.add(up_writer)
        self.stats.forwarded += 1
        try:
            up_writer.write(head)
            await up_writer.drain()
            upload = asyncio.create_task(_pipe(reader, up_writer))
            await _pipe(up_reader, writer)
            upload.cancel()
        finally:
            self._open.discard(up_writer)
            with contextlib.suppress(Exception):
                up_writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
