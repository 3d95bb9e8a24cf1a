"""Logs, the read-only terminal and SSH, against a real dev container on the real Docker engine.

The container is made by the real `dev_boot` (same config: read-only root, unprivileged, sshd
started by the dev script, keys written by docker exec); only the dev server itself is a cheap
one (python's http.server plus a loop that prints what a test asks it to), so a test does not
spend minutes in `npm install` on a 2-core machine."""
from __future__ import annotations

import asyncio
import json
import time

import docker
import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from websockets.sync.client import connect

from accounts.services.ssh_keys import ssh_key_add, ssh_key_delete
from agents import services as agent_services
from containers.docker_client import container_name
from containers.frameworks import DESCRIPTORS, cheap_dev
from deployments import logs, services
from deployments.models import DevEnvironment
from mgx_site.routing import websocket_urlpatterns
from workspaces.selectors import history_list

asyncssh = pytest.importorskip("asyncssh", reason="asyncssh is not installed in the venv (needed for the SSH client tests)")

pytestmark = pytest.mark.django_db(transaction=True)
Phase = DevEnvironment.Phase

# Serves the base path (the boot probe needs a 200 there) and prints whatever lands in /tmp/say.
CHEAP_DEV = r"""
echo "MGX_PHASE starting"
mkdir -p /tmp/site/apps/$MGX_APP_SLUG/dev
cd /tmp/site && python3 -m http.server 3000 >/dev/null 2>&1 &
echo "cheap dev server up"
while :; do if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 0.2; done
"""


def deadline_poll(check, timeout=30.0, interval=0.2, what="condition"):
    until = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def dev_app(runtime_image, app_factory, user_factory, monkeypatch):
    owner = user_factory(username="sshowner")
    app = app_factory(owner=owner, name="Tail Demo", framework="nextjs")
    monkeypatch.setitem(DESCRIPTORS, "nextjs", cheap_dev(DESCRIPTORS["nextjs"], CHEAP_DEV))
    dev = services.dev_boot(app=app)
    assert dev.phase == Phase.READY, f"{dev.message}\n{dev.last_log}"
    yield app
    services.dev_stop(app=app)


def say(app, text: str) -> None:
    """Make the dev container print `text` on its console (stdout of its main process)."""
    ran = services.dev_exec(app=app, command=["sh", "-c", 'printf "%s" "$T" > /tmp/say.new && mv /tmp/say.new /tmp/say'],
                            env={"T": text})
    assert ran.exit_code == 0, ran.stderr


def frames_until(ws, predicate, timeout=20.0):
    seen = []
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            frame = json.loads(ws.recv(timeout=max(0.1, until - time.monotonic())))
        except TimeoutError:
            break
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"never got the frame; saw {seen[-5:]}")


def has_line(text):
    return lambda f: f["kind"] == "lines" and any(text in line["line"] for line in f["data"]["lines"])


# ---------------------------------------------------------------- logs and terminal


def test_live_tail_gets_a_line_printed_after_connecting_and_says_when_the_container_stops(live, dev_app):
    owner = dev_app.owner
    http = live.login(owner.username, owner.raw_password)
    headers = {"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url}
    with connect(f"{live.ws_url}/ws/apps/{dev_app.slug}/logs/dev/?tail=50", additional_headers=headers, open_timeout=10) as ws:
        first = frames_until(ws, lambda f: f["kind"] == "lines")[-1]
        assert first["data"]["replay"] is True
        assert any("cheap dev server up" in line["line"] for line in first["data"]["lines"])  # recent lines first
        say(dev_app, "printed after the viewer connected\n")
        frames_until(ws, has_line("printed after the viewer connected"))
        # The API shows the same line, with its timestamp.
        got = http.get(f"{live.url}/api/apps/{dev_app.slug}/logs", params={"target": "dev", "tail": 100}).json()
        assert any(line["line"] == "printed after the viewer connected" and line["container"] == "dev" and line["ts"]
                   for line in got["lines"])
        services.dev_stop(app=dev_app)
        end = frames_until(ws, lambda f: f["kind"] == "end")[-1]
        assert "stopped" in end["data"]["message"]


def test_prod_logs_answer_not_deployed_and_a_stranger_sees_nothing(live, app_factory, user_factory):
    owner = user_factory(username="prodless")
    app = app_factory(owner=owner, name="No Prod")
    http = live.login("prodless", owner.raw_password)
    got = http.get(f"{live.url}/api/apps/{app.slug}/logs", params={"target": "prod"})
    assert got.status_code == 409 and "not deployed" in got.json()["error"]["message"]
    assert http.get(f"{live.url}/api/apps/{app.slug}/logs", params={"target": "nope"}).status_code == 404
    stranger = user_factory(username="stranger")
    other = live.login("stranger", stranger.raw_password)
    assert other.get(f"{live.url}/api/apps/{app.slug}/logs", params={"target": "dev"}).status_code == 404
    headers = {"Cookie": f"sessionid={other.cookies['sessionid']}", "Origin": live.url}
    with pytest.raises(Exception):
        with connect(f"{live.ws_url}/ws/apps/{app.slug}/logs/dev/", additional_headers=headers, open_timeout=10) as ws:
            ws.recv(timeout=5)


def test_terminal_refuses_input_and_nothing_reaches_the_container(live, dev_app):
    owner = dev_app.owner
    http = live.login(owner.username, owner.raw_password)
    headers = {"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url}
    with connect(f"{live.ws_url}/ws/apps/{dev_app.slug}/terminal/dev/", additional_headers=headers, open_timeout=10) as ws:
        frames_until(ws, lambda f: f["kind"] == "lines")
        for frame in ("touch /workspace/pwned\n", json.dumps({"input": "touch /workspace/pwned\r"}), b"touch /workspace/pwned\n"):
            ws.send(frame)
            refused = frames_until(ws, lambda f: f["kind"] == "refused")[-1]
            assert "read-only" in refused["data"]["message"]
        # Colours come through as they were printed (xterm draws them).
        say(dev_app, "\x1b[31mred alert\x1b[0m\n")
        got = frames_until(ws, has_line("red alert"))[-1]
        assert any(line["line"] == "\x1b[31mred alert\x1b[0m" for line in got["data"]["lines"])
    assert not (services.workspace_for(dev_app).root / "pwned").exists()
    assert services.dev_exec(app=dev_app, command="ls /workspace/pwned /tmp/pwned").exit_code != 0
    attrs = docker.from_env().containers.get(container_name(slug=dev_app.slug, role="dev")).attrs["Config"]
    assert attrs["OpenStdin"] is False and attrs["AttachStdin"] is False  # no way in at all


def test_a_reconnecting_terminal_shows_the_recent_output_again(live, dev_app):
    owner = dev_app.owner
    http = live.login(owner.username, owner.raw_password)
    headers = {"Cookie": f"sessionid={http.cookies['sessionid']}", "Origin": live.url}
    say(dev_app, "before the reconnect\n")
    deadline_poll(lambda: "before the reconnect" in services.dev_logs(app=dev_app), what="the line in the log")
    for _ in range(2):
        with connect(f"{live.ws_url}/ws/apps/{dev_app.slug}/terminal/dev/", additional_headers=headers, open_timeout=10) as ws:
            replay = frames_until(ws, lambda f: f["kind"] == "lines")[-1]
            assert replay["data"]["replay"] and any("before the reconnect" in line["line"] for line in replay["data"]["lines"])


def test_fifty_viewers_hold_one_docker_stream_and_one_leaving_stops_nothing(dev_app, settings):
    """In this process, with the real consumer and the real Redis channel layer: fifty sockets on
    one container open one Docker log stream; closing one leaves the others fed."""
    application = URLRouter(websocket_urlpatterns)
    name = container_name(slug=dev_app.slug, role="dev")
    before = logs.opened.get(name, 0)

    async def scenario():
        viewers = []
        for _ in range(50):
            ws = WebsocketCommunicator(application, f"/ws/apps/{dev_app.slug}/logs/dev/")
            ws.scope["user"] = dev_app.owner
            connected, _ = await ws.connect(timeout=20)
            assert connected
            first = await ws.receive_json_from(timeout=20)
            assert first["kind"] == "lines"
            viewers.append(ws)
        assert logs.opened.get(name, 0) - before == 1
        assert logs.streams_open() == {name: 50}
        await viewers[0].disconnect()
        await asyncio.to_thread(say, dev_app, "after one viewer left\n")
        for ws in viewers[1:]:
            while True:
                frame = await ws.receive_json_from(timeout=20)
                if frame["kind"] == "lines" and any("after one viewer left" in line["line"] for line in frame["data"]["lines"]):
                    break
        assert logs.streams_open() == {name: 49}
        for ws in viewers[1:]:
            await ws.disconnect()
        assert logs.streams_open() == {}

    async_to_sync(scenario)()


# ---------------------------------------------------------------- SSH


def _keypair():
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key, key.export_public_key().decode().strip()


def _ssh(port, key=None, username="app", password=None, command="true"):
    async def run():
        options = dict(host="127.0.0.1", port=port, username=username, known_hosts=None, connect_timeout=15,
                       agent_path=None, client_keys=[key] if key else [], password=password)
        async with asyncssh.connect(**options) as conn:
            result = await conn.run(command, check=False, timeout=30)
            return result

    return async_to_sync(run)()


def _refused(**kwargs) -> bool:
    try:
        _ssh(**kwargs)
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError):
        return True
    return False


def test_ssh_with_the_owners_key_lands_in_the_workspace_and_edits_show_in_mgx(dev_app, user_factory, live):
    owner = dev_app.owner
    key, public = _keypair()
    ssh_key_add(user=owner, public_key=public, title="laptop")  # after the start: synced at once
    dev = DevEnvironment.objects.get(app=dev_app)
    assert dev.ssh_port
    attrs = docker.from_env().containers.get(container_name(slug=dev_app.slug, role="dev")).attrs
    assert all(b["HostIp"] == "127.0.0.1" for b in attrs["NetworkSettings"]["Ports"]["2222/tcp"])  # MGX_SSH_BIND

    listed = deadline_poll(lambda: _try(lambda: _ssh(port=dev.ssh_port, key=key, command="pwd; echo $HOME; ls")),
                           what="the owner's key to be accepted")
    assert listed.exit_status == 0
    cwd, home, *entries = listed.stdout.splitlines()
    assert cwd == "/workspace" and home == "/workspace" and "package.json" in entries

    edited = _ssh(port=dev.ssh_port, key=key, command="sed -i 's/Your app is running./Edited over SSH./' app/page.tsx && id -u")
    assert edited.exit_status == 0 and edited.stdout.strip() == "1000"
    # MGX's editor reads it (the file API) ...
    http = live.login(owner.username, owner.raw_password)
    shown = http.get(f"{live.url}/api/workspaces/{dev_app.slug}/files", params={"path": "app/page.tsx"}).json()
    assert "Edited over SSH." in shown["content"]
    # ... and History has it once the dev-container changes are committed (Celery beat does this).
    assert agent_services.dev_changes_commit() == [dev_app.slug]
    newest = history_list(app=dev_app, limit=1)[0]
    assert newest.author == "dev container" and "dev container" in newest.message
    assert "Edited over SSH." in http.get(f"{live.url}/api/workspaces/{dev_app.slug}/files",
                                           params={"path": "app/page.tsx"}).json()["content"]

    # The Dev tab shows the exact command, and the read-only Terminal tab points to it.
    panel = http.get(f"{live.url}/sessions/{dev_app.slug}/dev/panel").text
    assert f"ssh -p {dev.ssh_port} app@" in panel and "Host mgx-" in panel
    terminal = http.get(f"{live.url}/sessions/{dev_app.slug}/?tab=terminal").text
    assert "Read-only by design" in terminal and f"ssh -p {dev.ssh_port} app@" in terminal

    # A key removed from the profile stops working at once, without restarting the dev server.
    started = attrs["State"]["StartedAt"]
    ssh_key_delete(user=owner, key_id=owner.ssh_keys.get().pk)
    assert _refused(port=dev.ssh_port, key=key)
    assert docker.from_env().containers.get(container_name(slug=dev_app.slug, role="dev")).attrs["State"]["StartedAt"] == started

    # Stopping the dev container closes SSH.
    ssh_key_add(user=owner, public_key=public, title="laptop again")
    deadline_poll(lambda: _try(lambda: _ssh(port=dev.ssh_port, key=key)), what="the key to be accepted again")
    services.dev_stop(app=dev_app)
    with pytest.raises((OSError, asyncssh.Error)):
        _ssh(port=dev.ssh_port, key=key)


def test_ssh_refuses_another_users_key_a_password_and_root(dev_app, user_factory):
    owner = dev_app.owner
    key, public = _keypair()
    ssh_key_add(user=owner, public_key=public, title="owner")
    stranger = user_factory(username="ssh-stranger")
    other_key, other_public = _keypair()
    ssh_key_add(user=stranger, public_key=other_public, title="stranger's")
    port = DevEnvironment.objects.get(app=dev_app).ssh_port
    deadline_poll(lambda: _try(lambda: _ssh(port=port, key=key)), what="the owner's key to be accepted")

    assert _refused(port=port, key=other_key)
    assert _refused(port=port, password="anything")
    assert _refused(port=port, username="root", key=key)
    assert _refused(port=port, username="root", password="root")


def _try(call):
    try:
        return call()
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError, OSError):
        return None


UNIX_SOCKET = "/tmp/mgx-test-listener.sock"
UNIX_LISTENER = (f"setsid python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('{UNIX_SOCKET}'); "
                 f"s.listen(); [s.accept() for _ in range(100)]\" >/dev/null 2>&1 < /dev/null & "
                 f"for i in $(seq 50); do [ -S {UNIX_SOCKET} ] && exit 0; sleep 0.1; done; exit 1")


def test_ssh_refuses_every_kind_of_forwarding(dev_app):
    """SSH gives a shell in the container, not a way through it: local (-L) and dynamic (-D)
    forwarding, remote (-R), Unix-socket forwarding both ways, tunnels, the agent and X11 are
    all refused by sshd, while commands still run."""
    owner = dev_app.owner
    key, public = _keypair()
    ssh_key_add(user=owner, public_key=public, title="laptop")
    port = DevEnvironment.objects.get(app=dev_app).ssh_port
    deadline_poll(lambda: _try(lambda: _ssh(port=port, key=key)), what="the owner's key to be accepted")

    # A Unix socket listening in the container, for the Unix-socket forward to reach.
    listening = services.dev_exec(app=dev_app, command=["sh", "-c", UNIX_LISTENER])
    assert listening.exit_code == 0, listening.stderr

    async def attempts():
        allowed, refused = [], []
        options = dict(host="127.0.0.1", port=port, username="app", known_hosts=None, connect_timeout=15,
                       client_keys=[key], agent_path="/nonexistent/agent.sock", agent_forwarding=True)
        async with asyncssh.connect(**options) as conn:
            # (name, attempt, whether only "administratively prohibited" counts as refused: sshd
            # says that for TCP; for the others it says "open failed", as it does when the target
            # is missing, so those targets are made to exist, or cannot exist for this user: a
            # tunnel device needs root, and `sshd -T` below shows PermitTunnel is off anyway).
            tries = [
                # -L and -D both open direct-tcpip channels: to the dev server inside, and beyond it.
                ("-L to the dev server", lambda: conn.open_connection("127.0.0.1", 3000), True),
                ("-D to the host", lambda: conn.open_connection("host.docker.internal", 80), True),
                ("-R", lambda: conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 9), False),
                ("-L to a Unix socket", lambda: conn.open_unix_connection(UNIX_SOCKET), False),
                ("-R of a Unix socket", lambda: conn.forward_remote_path("/tmp/mgx-fwd.sock", "/tmp/local.sock"), False),
                ("a tunnel (-w)", lambda: conn.open_tun(), False),
            ]
            for name, attempt, prohibited_only in tries:
                try:
                    opened = await asyncio.wait_for(attempt(), 20)
                except asyncssh.ChannelOpenError as exc:
                    if prohibited_only and exc.code != asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
                        allowed.append(f"{name} (then: {exc.reason})")
                    else:
                        refused.append(name)
                    continue
                except asyncssh.ChannelListenError:
                    refused.append(name)
                    continue
                allowed.append(name)
                closer = opened[1] if isinstance(opened, tuple) else opened
                closer.close()
            # The agent was asked for with the session: it is not there.
            said = await conn.run('echo "agent=${SSH_AUTH_SOCK:-none} display=${DISPLAY:-none}"; pwd', check=False,
                                  timeout=30)
        return allowed, refused, said.stdout

    allowed, refused, said = async_to_sync(attempts)()
    assert allowed == [], f"sshd allowed: {allowed}"
    assert len(refused) == 6
    assert said.splitlines() == ["agent=none display=none", "/workspace"]
    # And sshd says so itself, for the kinds a client here cannot ask for (X11 needs a display).
    effective = services.dev_exec(app=dev_app, command=["/usr/sbin/sshd", "-T", "-f", "/tmp/mgx-ssh/sshd_config"])
    settings_said = set(effective.stdout.splitlines())
    for line in ("disableforwarding yes", "allowtcpforwarding no", "allowstreamlocalforwarding no",
                 "allowagentforwarding no", "x11forwarding no", "permittunnel no", "gatewayports no"):
        assert line in settings_said, f"{line!r} not in sshd -T: {effective.stderr[:300]}"
