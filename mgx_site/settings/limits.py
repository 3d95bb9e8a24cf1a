"""Fair shares: what one request, one download, one user may take of the machine
(docs/security.md). Each limit refuses with a message that names it; nothing is changed by a
refused request."""
from .env import env

MIB = 1024 * 1024

# The largest request body Daphne reads, on both of its listeners; a bigger one is answered 413
# before it is read (mgx_site.daphne_server), whether it has a Content-Length or is chunked.
# It must hold the largest legitimate body: an agent checkpoint (12 MiB, agents.internal_api),
# an upload (MGX_UPLOAD_MAX_BYTES plus the form's framing), a file written through the API.
# The OTLP receiver's paths are limited to MGX_OTLP_MAX_BODY_BYTES the same way.
MGX_MAX_REQUEST_BYTES = env.int("MGX_MAX_REQUEST_BYTES", default=16 * MIB)

# The workspace .zip download streams, and stops at this many bytes of files (before
# compression): a workspace whose files add up to more is refused before the download starts,
# and one that grows past it while being zipped ends with a note in the archive saying so.
MGX_WORKSPACE_ZIP_MAX_BYTES = env.int("MGX_WORKSPACE_ZIP_MAX_BYTES", default=256 * MIB)

# Per user (MGX admins included: their browsers and scripts can exhaust the machine as well as
# anyone's; raise a limit for everyone instead). 0 turns a limit off.
MGX_MAX_APPS_PER_USER = env.int("MGX_MAX_APPS_PER_USER", default=20)  # apps a user owns
MGX_MAX_DEV_SERVERS_PER_USER = env.int("MGX_MAX_DEV_SERVERS_PER_USER", default=3)  # running at once
MGX_MAX_SOCKETS_PER_USER = env.int("MGX_MAX_SOCKETS_PER_USER", default=50)  # open websockets, all instances
# Each open websocket holds a lease in Redis, renewed every third of this; a Daphne that dies
# without closing its sockets gives their places back when their leases run out.
MGX_SOCKET_LEASE_SECONDS = env.int("MGX_SOCKET_LEASE_SECONDS", default=60)
