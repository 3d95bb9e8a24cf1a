"""Daphne as MGX runs it: `python -m mgx_site.daphne_server <daphne's own arguments>`.

Daphne (on Twisted) reads a request's whole body, into memory or a temporary file, before it
calls the ASGI application, and then hands all of it to the application's queue at once: an
anonymous 1.5 GB `POST /healthz` was read in full (2.1 GB of RSS, 2.9 GB of temporary files)
before Django could say no. An ASGI middleware runs too late for that, so the limits sit in
Twisted's HTTP channel, where the headers are parsed:

- a body whose Content-Length is over the limit is answered 413 as soon as the headers are in,
  and a chunked body as soon as it passes the limit; nothing of it is kept;
- a body for the OTLP receiver (`/otlp/`) without an ingest token (`Authorization: Bearer
  mgxi_…`) is answered 401 before any of it is read, and its limit is MGX_OTLP_MAX_BODY_BYTES;
- everything else: MGX_MAX_REQUEST_BYTES (mgx_site/settings/limits.py), on every listener
  (the public one and the internal one for containers).

After such an answer the connection is half-closed (the client sees the whole answer and the
end of it) and whatever the client still sends is read and thrown away for up to
LINGER_SECONDS, then the connection is dropped: closing at once while the client is still
sending would make the kernel answer with a reset, and most clients would then lose the 413.

Responses get back-pressure too: Daphne writes whatever the application sends into Twisted's
buffer at once, so a client that reads a streamed download slowly made Daphne hold the whole
download. Here an application's `send` of a body chunk waits while the connection's unsent
data is over Twisted's buffer size (64 KiB).

Everything else is Daphne's own command line (`daphne --help`); `./mgx`, the test fixtures and
the compose file start Daphne through this module (mgx_site.cli.procs). The limits hold for
HTTP/1.x, which is all MGX's listeners speak: Daphne offers HTTP/2 only on TLS endpoints (with
Twisted's http2 extra), and MGX leaves TLS to the proxy in front of it.
"""
from __future__ import annotations

import asyncio
import logging
import sys
from urllib.parse import unquote, urlsplit

import daphne.server  # noqa: I001  first: it installs Twisted's asyncio reactor
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet import reactor
from twisted.web import http

logger = logging.getLogger("mgx.requests")

LINGER_SECONDS = 30.0  # how long the rest of a refused body is read and discarded
OTLP_PREFIX = "/otlp/"
INGEST_TOKEN_PREFIX = b"mgxi_"  # observability.tokens


class Refusal:
    __slots__ = ("status", "reason", "message", "headers")

    def __init__(self, status: int, reason: bytes, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()):
        self.status, self.reason, self.message, self.headers = status, reason, message, headers


def _path_of(target: bytes) -> str:
    """The decoded path of a request target (origin form, or absolute form), as Daphne gives
    it to the application (it unquotes the path too)."""
    raw = target.decode("latin-1")
    if not raw.startswith("/"):
        raw = urlsplit(raw).path or "/"
    return unquote(raw.split("?", 1)[0])


def body_limit(path: str) -> int:
    from django.conf import settings

    if path.startswith(OTLP_PREFIX):  # the receiver's own limit, whichever is larger
        return settings.MGX_OTLP_MAX_BODY_BYTES
    return settings.MGX_MAX_REQUEST_BYTES


def too_large(limit: int) -> Refusal:
    return Refusal(413, b"Content Too Large",
                   f"The request body is too large: this server takes at most {limit:,} bytes.\n")


def early_refusal(path: str, headers: http.Headers, length: int | None) -> Refusal | None:
    """What to answer before reading the body (None: read it, within `body_limit(path)`).
    `length` is the declared Content-Length, None for a chunked body."""
    if path.startswith(OTLP_PREFIX) and length != 0:
        scheme, _, token = (headers.getRawHeaders(b"authorization") or [b""])[0].partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip().startswith(INGEST_TOKEN_PREFIX):
            return Refusal(401, b"Unauthorized", "An ingest token is required: Authorization: Bearer <token>.\n",
                           ((b"WWW-Authenticate", b'Bearer realm="otlp"'),))
    limit = body_limit(path)
    if length is not None and length > limit:
        return too_large(limit)
    return None


class _Discard:
    """Takes the place of the channel's body decoder once a request is refused: what the client
    still sends is dropped."""

    def dataReceived(self, data: bytes) -> None:
        pass

    def noMoreData(self) -> None:
        pass


class _Drain:
    """A push producer registered on a response: Twisted pauses it while the connection's unsent
    data is over the transport's buffer size and resumes it once that is written out."""

    def __init__(self):
        self.waiter: asyncio.Future | None = None

    def pauseProducing(self) -> None:
        if self.waiter is None:
            self.waiter = asyncio.get_event_loop().create_future()

    def resumeProducing(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stopProducing(self) -> None:  # the connection is gone: nobody waits for it
        self.resumeProducing()


class LimitedRequest(WebRequest):
    """Daphne's request, with its body counted against its limit and its response drained."""

    mgx_refused = False
    mgx_limit: int | None = None
    mgx_received = 0
    _mgx_drain: _Drain | None = None

    def handleContentChunk(self, data: bytes) -> None:
        if self.mgx_refused:
            return
        self.mgx_received += len(data)
        if self.mgx_limit is not None and self.mgx_received > self.mgx_limit:
            self.channel.mgx_refuse(self, too_large(self.mgx_limit))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self.mgx_refused:
            return  # answered already: the application never sees it
        super().requestReceived(command, path, version)

    async def mgx_drained(self) -> None:
        """Return once the client has taken enough of the response for more to be written."""
        if self.finished or self._disconnected or self.channel is None:
            return
        if self._mgx_drain is None:
            self._mgx_drain = _Drain()
            self.registerProducer(self._mgx_drain, True)
            if self.channel._waitingForTransport:
                self._mgx_drain.pauseProducing()
        if self._mgx_drain.waiter is not None:
            await self._mgx_drain.waiter

    def finish(self):
        if self._mgx_drain is not None:
            self._mgx_drain.resumeProducing()
            if self.producer is not None and self.channel is not None:
                self.unregisterProducer()
        super().finish()

    def connectionLost(self, reason):
        if self._mgx_drain is not None:
            self._mgx_drain.resumeProducing()
        super().connectionLost(reason)


class LimitedChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel, refusing a body before reading it (module docstring)."""

    _mgx_refused = False
    _mgx_linger = None

    def allHeadersReceived(self):
        request = self.requests[-1]
        path = _path_of(self._path)
        refusal = early_refusal(path, request.requestHeaders, self.length)
        if refusal is not None:
            self.mgx_refuse(request, refusal)
            return
        if isinstance(request, LimitedRequest):
            request.mgx_limit = body_limit(path)
        super().allHeadersReceived()

    def mgx_refuse(self, request, refusal: Refusal) -> None:
        """Answer `refusal`, stop reading the body into anything, end the connection."""
        if self._mgx_refused:
            return
        self._mgx_refused = True
        request.mgx_refused = True
        self._transferDecoder = _Discard()
        self.length = None  # lineReceived: go on in raw mode (into _Discard), not to the application
        body = refusal.message.encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (refusal.status, refusal.reason),
                b"Content-Type: text/plain; charset=utf-8\r\n", b"Content-Length: %d\r\n" % len(body),
                b"Connection: close\r\n", *(b"%s: %s\r\n" % pair for pair in refusal.headers), b"\r\n", body]
        self.transport.writeSequence(head)
        try:
            peer = self.transport.getPeer()
            client = f"{peer.host}:{peer.port}"
        except Exception:
            client = "?"
        logger.info("refused %s %s from %s: %d %s", self._command.decode("latin-1", "replace"),
                    _path_of(self._path)[:200], client, refusal.status, refusal.message.strip()[:120])
        self.setTimeout(None)
        if hasattr(self.transport, "loseWriteConnection"):
            self.transport.loseWriteConnection()
            self._mgx_linger = reactor.callLater(LINGER_SECONDS, self.transport.abortConnection)
        else:
            self.transport.loseConnection()

    def allContentReceived(self):
        if self._mgx_refused:
            return  # the rest of a refused body: the request was answered
        super().allContentReceived()

    def connectionLost(self, reason):
        if self._mgx_linger is not None and self._mgx_linger.active():
            self._mgx_linger.cancel()
        self._mgx_linger = None
        super().connectionLost(reason)


def _limited_channel(factory):
    # As Twisted's own factory does (_genericHTTPChannelProtocolFactory), with our channel inside.
    return http._GenericHTTPChannelProtocol(LimitedChannel())


class LimitedHTTPFactory(HTTPFactory):
    protocol = _limited_channel

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = LimitedRequest
        return protocol


class MgxServer(daphne.server.Server):
    async def handle_reply(self, protocol, message):
        await super().handle_reply(protocol, message)
        if message.get("type") == "http.response.body" and message.get("more_body") and \
                isinstance(protocol, LimitedRequest):
            await protocol.mgx_drained()


def main(argv: list[str] | None = None) -> None:
    # Server.run() makes its HTTP factory by this module-level name; there is no other way in.
    daphne.server.HTTPFactory = LimitedHTTPFactory
    cli = CommandLineInterface()
    cli.server_class = MgxServer
    cli.run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
