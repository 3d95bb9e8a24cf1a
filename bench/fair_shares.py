"""What one client can make Daphne hold (issue 24): memory and time of the attacks, measured.

Private stack like the tests (mgx_site.settings.test: Redis, the MongoDB store, Daphne on
loopback; stopped and removed at the end). Prints, for each attack, how many bytes the client
had sent when the answer came, how long that took, and Daphne's RSS before and at its peak
(read from /proc/<pid>/status while the attack runs):

1. an anonymous `POST /healthz` declaring 1.5 GB, sent as fast as loopback allows until the
   answer comes (Content-Length), then the same as a chunked body;
2. `GET .../files/zip` of a workspace holding a 1.5 GB sparse file;
3. `GET .../files/download` of a sparse file of `--download-mb` (default 1536), read by a
   client at `--read-mbps` (default 200 MB/s), and read at full speed.

    .venv/bin/python bench/fair_shares.py [--download-mb 1536] [--read-mbps 200] [--only post|zip|download]

`--daphne-cli` runs the same against Daphne started by its own command line (`daphne ...`, no
MGX limits) for the numbers before the change; only attack 1 then finishes quickly.
"""
import argparse
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "mgx_site.settings.test"
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = ""
os.chdir(ROOT)

import django  # noqa: E402

django.setup()

from _login import bench_login  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from mgx_site.cli import procs  # noqa: E402
from studio.services import app_create  # noqa: E402

MIB = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Peak:
    """Samples a process's RSS every 20 ms in a thread until stopped."""

    def __init__(self, pid: int):
        self.pid, self.before, self.peak = pid, rss_kib(pid), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))
        return f"Daphne RSS {self.before / 1024:.0f} MB -> peak {self.peak / 1024:.0f} MB (+{(self.peak - self.before) / 1024:.0f} MB)"


def post_attack(port: int, *, chunked: bool, total: int) -> str:
    """Send as fast as possible until an answer is readable or `total` bytes went out."""
    head = f"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {total}\r\n\r\n"
    piece = b"\0" * (256 * 1024)
    framed = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    sent, answer = 0, b""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        pending = memoryview(b"")
        try:
            while sent < total and not answer:
                try:
                    answer = sock.recv(4096)
                except BlockingIOError:
                    pass
                if not pending:
                    pending = memoryview(framed)
                try:
                    n = sock.send(pending)
                    pending, sent = pending[n:], sent + n
                except BlockingIOError:
                    time.sleep(0.0005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.setblocking(True)
        sock.settimeout(600)
        if not answer:
            try:
                answer = sock.recv(4096)
            except (ConnectionResetError, socket.timeout):
                answer = b""
    took = time.perf_counter() - t0
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(no answer)"
    return f"{status}: after {sent / MIB:,.1f} MB sent, {took:.2f} s"


def download(http, url: str, *, mbps: float | None) -> str:
    t0 = time.perf_counter()
    got = 0
    with http.get(url, stream=True, timeout=600) as answer:
        status = answer.status_code
        for chunk in answer.iter_content(1 << 20):
            got += len(chunk)
            if mbps:
                ahead = got / (mbps * 1e6) - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    took = time.perf_counter() - t0
    return f"{status}, {got / MIB:,.0f} MB in {took:.1f} s ({got / MIB / max(took, 1e-9):,.0f} MB/s)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--download-mb", type=int, default=1536)
    parser.add_argument("--read-mbps", type=float, default=200.0)
    parser.add_argument("--daphne-cli", action="store_true", help="Daphne's own command line (before the change)")
    parser.add_argument("--only", choices=("post", "zip", "download"),
                        help="one attack (each one on a fresh Daphne: a bloated heap hides the next one's growth)")
    args = parser.parse_args()
    layout = procs.Layout(os.environ["MGX_TEST_RUN_DIR"])
    stack = {p.name: p for p in procs.stack(layout, dict(os.environ))}
    daphne = stack["daphne"]
    if args.daphne_cli:
        daphne.argv = [str(procs.BIN_DIR / "daphne"), *daphne.argv[3:]]
    call_command("migrate", verbosity=0)
    started = procs.start_all(layout, [stack["redis"], stack["mongo"], daphne])
    try:
        pid = procs.running_pid(layout, daphne)
        port = daphne.port
        base = f"http://127.0.0.1:{port}"
        print(f"Daphne pid {pid} ({' '.join(Path(a).name for a in daphne.argv[:3])}), "
              f"MGX_MAX_REQUEST_BYTES {settings.MGX_MAX_REQUEST_BYTES:,}, "
              f"MGX_WORKSPACE_ZIP_MAX_BYTES {settings.MGX_WORKSPACE_ZIP_MAX_BYTES:,}")
        for chunked in (False, True) if args.only in (None, "post") else ():
            peak = Peak(pid)
            said = post_attack(port, chunked=chunked, total=1536 * MIB)
            print(f"1. POST /healthz, 1.5 GB {'chunked' if chunked else 'Content-Length'}: {said}; {peak.stop()}")

        user, http = bench_login(base)
        app = app_create(owner=user, name="Fair Bench", framework="nextjs")
        sparse = Path(settings.MGX_WORKSPACE_ROOT) / app.slug / "big.bin"
        with open(sparse, "wb") as fh:
            fh.truncate(1536 * MIB)
        if args.only in (None, "zip"):
            peak = Peak(pid)
            t0 = time.perf_counter()
            answer = http.get(f"{base}/sessions/{app.slug}/files/zip", timeout=600)
            print(f"2. .zip of a workspace with a 1.5 GB sparse file: {answer.status_code} in "
                  f"{time.perf_counter() - t0:.2f} s, {len(answer.content):,} bytes; {peak.stop()}")
        with open(sparse, "wb") as fh:
            fh.truncate(args.download_mb * MIB)
        for mbps in (args.read_mbps, None) if args.only in (None, "download") else ():
            peak = Peak(pid)
            said = download(http, f"{base}/sessions/{app.slug}/files/download?path=big.bin", mbps=mbps)
            pace = f"read at {mbps:.0f} MB/s" if mbps else "read at full speed"
            print(f"3. download of a {args.download_mb} MB sparse file, {pace}: {said}; {peak.stop()}")
    finally:
        procs.stop_started(layout, started)
        shutil.rmtree(layout.var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
