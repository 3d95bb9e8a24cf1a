"""sshd inside a dev container: its configuration, started before the dev server (the dev
scripts themselves are the frameworks' descriptors, containers.frameworks)."""

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
