"""Request bodies over MGX_MAX_REQUEST_BYTES are refused by the live Daphne with 413 before they
are read, on the public and the internal listener, whether the body has a Content-Length or is
chunked; the OTLP receiver's path has its own, smaller limit and wants an ingest token before
any of its body is read. Each test is the attack, on a raw socket: it keeps sending while it
watches for the answer, so "before it is read" means the answer came while the client was
still sending."""
from __future__ import annotations

import select
import socket
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings

from mgx_site.cli import procs

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
PIECE = 64 * 1024


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def _status(answer: bytes) -> int | None:
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


def _attack(url: str, path: str, *, length: int | None, send: int, headers: dict | None = None
            ) -> tuple[int | None, bytes]:
    """POST `path` declaring `length` bytes (None: chunked), send the headers and `send` bytes
    of the body, then stop sending and wait for an answer. A server that reads the whole body
    before answering never answers then (the client is not done); the wait is only a bound
    for that case, never what a test measures. Returns (status or None, the answer's bytes)."""
    host, port = _address(url)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/octet-stream"]
    head.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    piece = b"\0" * PIECE
    framed = piece if length is not None else f"{PIECE:x}\r\n".encode() + piece + b"\r\n"
    answer, sent = b"", 0
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < send:
                sock.sendall(framed)
                sent += PIECE
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while b"\r\n\r\n" not in answer:
                readable, _, _ = select.select([sock], [], [], 30)
                if not readable:
                    break
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, socket.timeout):
            pass
    return _status(answer), answer


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture
def daphne_pid(live):
    pid = procs.running_pid(live.layout, live.stack["daphne"])
    assert pid is not None
    return pid


LIMIT = settings.MGX_MAX_REQUEST_BYTES


@pytest.mark.parametrize("listener", ["public", "internal"])
def test_a_huge_declared_body_is_refused_before_any_of_it_is_sent(live, listener, daphne_pid):
    url = live.url if listener == "public" else live.internal_url
    before = _rss_kib(daphne_pid)
    status, answer = _attack(url, "/healthz", length=1536 * MIB, send=0)
    assert status == 413, f"no 413 for a declared 1.5 GB before its body: {answer[:200]!r}"
    assert f"at most {LIMIT:,} bytes".encode() in answer  # it says what the limit is
    assert _rss_kib(daphne_pid) - before < LIMIT // 1024 // 2


@pytest.mark.parametrize("listener", ["public", "internal"])
def test_a_chunked_body_is_refused_once_it_passes_the_limit(live, listener, daphne_pid):
    url = live.url if listener == "public" else live.internal_url
    before = _rss_kib(daphne_pid)
    status, answer = _attack(url, "/healthz", length=None, send=LIMIT + PIECE)  # the client is not done
    assert status == 413, f"no 413 after {LIMIT + PIECE:,} chunked bytes: {answer[:200]!r}"
    assert _rss_kib(daphne_pid) - before < LIMIT // 1024 // 2


def test_a_body_over_the_limit_sent_whole_leaves_daphnes_memory_as_it_was(live, daphne_pid):
    """The client that does not look for an early answer and sends everything (as most do):
    Daphne reads and drops what follows its answer, so the client still gets it."""
    before = _rss_kib(daphne_pid)
    length = 3 * LIMIT
    status, _ = _attack(live.url, "/healthz", length=length, send=length)
    grown_kib = _rss_kib(daphne_pid) - before
    assert (status, grown_kib < LIMIT // 1024 // 2) == (413, True), f"{status}, grew {grown_kib} KiB"


def test_a_body_under_the_limit_still_reaches_mgx(live):
    # Django refuses a POST without a CSRF token (403): its answer, so the body got through.
    answer = requests.post(f"{live.url}/healthz", data=b"x" * MIB, timeout=30)
    assert answer.status_code == 403
    # And the connection is still good for the next request (keep-alive).
    with requests.Session() as http:
        assert http.post(f"{live.url}/healthz", data=b"x" * 1000, timeout=30).status_code == 403
        assert http.get(f"{live.url}/healthz", timeout=30).status_code in (200, 503)


def test_the_otlp_receiver_reads_no_body_without_an_ingest_token(live):
    for url in (live.url, live.internal_url):
        status, answer = _attack(url, "/otlp/v1/traces", length=512 * MIB, send=0,
                                 headers={"Content-Type": "application/x-protobuf"})
        assert status == 401 and b"ingest token" in answer, answer[:300]
        status, answer = _attack(url, "/otlp/v1/traces", length=None, send=0,
                                 headers={"Content-Type": "application/x-protobuf",
                                          "Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"})
        assert status == 401, answer[:300]


def test_the_otlp_receiver_has_its_own_smaller_limit(live):
    otlp_limit = settings.MGX_OTLP_MAX_BODY_BYTES
    assert otlp_limit < LIMIT
    status, answer = _attack(live.internal_url, "/otlp/v1/traces", length=otlp_limit + 1, send=0,
                             headers={"Authorization": "Bearer mgxi_not-checked-yet"})
    assert status == 413 and f"at most {otlp_limit:,} bytes".encode() in answer, answer[:300]


def test_the_largest_legitimate_bodies_still_reach_mgx(live):
    """An agent's checkpoint (up to 12 MiB, on the internal listener), an upload at
    MGX_UPLOAD_MAX_BYTES and an OTLP batch at its limit are read and answered by MGX itself
    (here: refused for want of credentials, which only MGX's views say), never 413 by Daphne."""
    from agents.internal_api import CHECKPOINT_BODY_LIMIT

    body = b"{" + b" " * (CHECKPOINT_BODY_LIMIT - 2) + b"}"
    checkpoint = requests.post(f"{live.internal_url}/internal/agent/checkpoints", data=body,
                               headers={"Content-Type": "application/json"}, timeout=60)
    assert checkpoint.status_code == 401 and "agent run token" in checkpoint.text
    upload = requests.post(f"{live.url}/sessions/some-app/files/upload", timeout=60,
                           files={"file": ("big.bin", b"\0" * settings.MGX_UPLOAD_MAX_BYTES)})
    assert upload.status_code == 403  # Django's CSRF check: it read the form
    otlp = requests.post(f"{live.internal_url}/otlp/v1/traces", data=b"\0" * settings.MGX_OTLP_MAX_BODY_BYTES,
                         headers={"Authorization": "Bearer mgxi_nobody.0", "Content-Type": "application/x-protobuf"},
                         timeout=60)
    assert otlp.status_code == 401 and otlp.json()["message"]
