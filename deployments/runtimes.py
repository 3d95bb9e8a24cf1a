"""How each template runs in its dev container: the port the gateway routes to and the script.

The scripts print `MGX_PHASE <phase>` lines that the boot watcher turns into the progress shown
on the Dev tab. Dependencies are installed into the workspace (node_modules, backend/.venv,
both git-ignored) with npm/pip caches in the app's own HOME volume, so a restart installs fast.
The scripts run as the unprivileged app user on a read-only root filesystem: they may write only
to /workspace, HOME and /tmp.
"""
from dataclasses import dataclass

SSH_PORT = 2222  # inside the container: sshd runs unprivileged, so not 22
SSH_DIR = "/tmp/mgx-ssh"  # config and authorized_keys (tmpfs: gone with the container)

# sshd as the container's own unprivileged user: it can only ever log that user in, and with
# UsePAM off it needs no root. The host key is kept in HOME (the app's cache volume) so it stays
# the same across restarts and clients do not see a "host key changed" warning each time.
# authorized_keys is written by MGX (deployments.services.dev_ssh_keys_sync) with docker exec,
# at start and whenever the owner's keys change. StrictModes is off because /tmp is world
# writable; only this user exists in the container. ForceCommand puts every session (shell,
# command, sftp, scp) in /workspace with HOME=/workspace: sshd itself always starts in the
# passwd home (/home/app), and no other option changes that.
# No forwarding of any kind (TCP -L/-D/-R, Unix sockets, the agent, X11, tunnels): SSH is a shell
# in the container, not a proxy from the owner's machine into whatever the container reaches.
# (The shell can still run programs that connect out, as the app's own code can: the container's
# network is the boundary; this keeps sshd from being a ready-made tunnel through it.)
# sshd's own log goes to a file, so the container's log (Logs tab) stays the app's output.
SSH_START = r"""
mgx_ssh() {
  umask 077
  mkdir -p "$HOME/.mgx-ssh" __SSH_DIR__ || return 1
  [ -f "$HOME/.mgx-ssh/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$HOME/.mgx-ssh/host_ed25519" || return 1
  : >> __SSH_DIR__/authorized_keys
  cat > __SSH_DIR__/session.sh <<'MGXEOF'
#!/bin/sh
export HOME=/workspace
cd /workspace || exit 1
if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"; fi
exec /bin/bash -l
MGXEOF
  chmod 700 __SSH_DIR__/session.sh
  cat > __SSH_DIR__/sshd_config <<MGXEOF
Port __SSH_PORT__
HostKey $HOME/.mgx-ssh/host_ed25519
PidFile __SSH_DIR__/sshd.pid
UsePAM no
PermitRootLogin no
AllowUsers $(id -un)
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey
AuthorizedKeysFile __SSH_DIR__/authorized_keys
StrictModes no
DisableForwarding yes
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitOpen none
PermitListen none
PermitUserEnvironment no
PrintMotd no
ForceCommand __SSH_DIR__/session.sh
Subsystem sftp /usr/lib/openssh/sftp-server
MGXEOF
  /usr/sbin/sshd -f __SSH_DIR__/sshd_config -E __SSH_DIR__/sshd.log
}
mgx_ssh || echo "MGX: sshd did not start; SSH to this container is unavailable" >&2
""".replace("__SSH_DIR__", SSH_DIR).replace("__SSH_PORT__", str(SSH_PORT))

from core.frameworks import FRAMEWORKS

# Installs are skipped when the manifest has not changed since the last successful install
# (a stamp with its hash lives next to the installed packages): a warm restart only starts.
NPM_INSTALL = r"""
manifest() { cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16; }
if [ "$(cat node_modules/.mgx-installed 2>/dev/null)" != "$(manifest)" ]; then
  # An install cut short (its container killed) leaves half-written packages that npm takes
  # for whole: the next install starts from nothing instead.
  [ -e node_modules/.mgx-installing ] && rm -rf node_modules
  mkdir -p node_modules && : > node_modules/.mgx-installing
  npm install --no-audit --no-fund --loglevel=error
  manifest > node_modules/.mgx-installed  # after the install: it may have written the lock file
  rm -f node_modules/.mgx-installing
fi
"""

# Exit 0 when what is installed still matches the manifests: a dev server kept warm (paused) is
# resumed only then; after a change to package.json or requirements it starts afresh and installs.
NPM_CURRENT = r"""[ "$(cat node_modules/.mgx-installed 2>/dev/null)" = "$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)" ]"""
NEXTJS_CURRENT = "cd /workspace && " + NPM_CURRENT
FASTAPI_VITE_CURRENT = (
    r"""cd /workspace/backend && [ "$(cat .venv/.mgx-installed 2>/dev/null)" = "$(cat requirements*.txt | sha256sum | cut -c1-16)" ]"""
    " && cd /workspace/frontend && " + NPM_CURRENT)

NEXTJS_DEV = r"""
set -e
cd /workspace
echo "MGX_PHASE installing"
""" + NPM_INSTALL + r"""
echo "MGX_PHASE starting"
exec npx next dev --turbopack -H 0.0.0.0 -p 3000
"""

FASTAPI_VITE_DEV = r"""
set -e
echo "MGX_PHASE installing"
cd /workspace/backend
[ -x .venv/bin/python ] || python3 -m venv .venv
# requirements-dev.txt (when the app has one) adds the test tools to requirements.txt.
reqs=requirements.txt; [ -f requirements-dev.txt ] && reqs=requirements-dev.txt
want=$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ "$(cat .venv/.mgx-installed 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --disable-pip-version-check -q -r $reqs
  echo "$want" > .venv/.mgx-installed
fi
cd /workspace/frontend
""" + NPM_INSTALL + r"""
echo "MGX_PHASE starting"
cd /workspace/backend
.venv/bin/uvicorn app.main:app --reload --host 127.0.0.1 --port 8000 &
cd /workspace/frontend
exec npx vite --host 0.0.0.0 --port 5173 --strictPort
"""


@dataclass(frozen=True)
class Runtime:
    port: int
    script: str
    current: str = "true"  # a shell test: the installed dependencies still match the manifests


RUNTIMES = {
    "nextjs": Runtime(port=3000, script=NEXTJS_DEV, current=NEXTJS_CURRENT),
    "fastapi_vite": Runtime(port=5173, script=FASTAPI_VITE_DEV, current=FASTAPI_VITE_CURRENT),
}
# Keyed by the ids of core.frameworks (the one list); a framework added there needs its runtime here.
assert set(RUNTIMES) == set(FRAMEWORKS), "every framework in core.frameworks needs a dev runtime"
