"""Streaming a download made by synchronous code (files, archives, logs) without holding it.

Django's ASGI handler cannot stream a `StreamingHttpResponse` over a *synchronous* iterator: it
reads the whole iterator into one list first (StreamingHttpResponse.__aiter__, "must consume
synchronous iterators"), so a 300 MB file download put 300 MB into Daphne, and the zip of a
workspace holding a 1.5 GB sparse file 3 GB. `in_thread` turns such an iterator into an
asynchronous one that takes each chunk from a worker thread only when the handler is ready to
send it; Daphne (mgx_site.daphne_server) lets the handler send only as fast as the client reads,
so a download holds a chunk or two at a time, whatever its size. Used by every download made
by synchronous code: workspace files and .zip, container logs, database exports.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async

from .asgi_handler import request_thread_release

_DONE = object()
PIECE = 64 * 1024  # small parts (lines) are sent together, up to about this much


def _take(iterator):
    """The next part, or several small ones joined (one thread hop a line would cost more than
    the line); _DONE at the end."""
    parts, size = [], 0
    for part in iterator:
        parts.append(part)
        size += len(part)
        if size >= PIECE:
            break
    if not parts:
        return _DONE
    return parts[0] if len(parts) == 1 else parts[0][:0].join(parts)


async def in_thread(iterable: Iterable[bytes | str]) -> AsyncIterator[bytes | str]:
    """The parts of `iterable`, each made on a worker thread as it is wanted. The iterator is
    closed (a generator's `finally` runs: open files close) when the client goes or it ends.
    Nothing in it may use the ORM: the thread is any of the loop's workers."""
    # The body is being sent, so no middleware of this request runs any more: its pooled
    # thread goes back now rather than idle for the whole download (core.asgi_handler).
    request_thread_release()
    iterator = iter(iterable)
    step = sync_to_async(_take, thread_sensitive=False)
    try:
        while (chunk := await step(iterator)) is not _DONE:
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=False)()
