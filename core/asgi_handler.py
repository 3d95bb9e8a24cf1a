"""Django's ASGI handler, with the request's thread taken from a pool instead of made per request.

Django's ASGIHandler runs each request's synchronous code (middleware, views, the ORM) on a
thread of its own: `ThreadSensitiveContext()` makes a fresh single-thread executor per request
and shuts it down at the end. That costs a thread start and join per request, and since
Django's database connections belong to a thread, a new database connection per request too
(bench/load.py, file reads: ~15 % of Daphne's CPU went to starting threads and opening and
closing SQLite connections).

Here each request still gets a thread to itself for its whole duration (what thread-sensitive
code such as the ORM relies on, and what keeps a slow request from holding up the others), but
the thread comes from a pool of idle single-thread executors and goes back there when the
request is done (asgiref's `ThreadSensitiveContext(executor=...)`: the caller owns the
executor). Database connections then live as long as their thread and CONN_MAX_AGE allow;
Django's own request_started/request_finished handlers still close broken or too-old ones, in
the request's thread, at every request's start and end.

At most `keep` idle threads are kept; a burst beyond that gets extra threads which, once their
request is done, close their database connections and end.

A response that streams for hours (agents.sse) gives its thread back early with
`request_thread_release()`, once no more middleware or view code of its own will run.
"""
import contextvars
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connections


class _Lease:
    __slots__ = ("executor", "context", "handler")

    def __init__(self, executor, context, handler):
        self.executor = executor
        self.context = context
        self.handler = handler


_lease: contextvars.ContextVar = contextvars.ContextVar("mgx_request_thread", default=None)


def request_thread_release() -> bool:
    """Give this request's pooled thread back now; False when the request has none (another
    handler). Thread-sensitive calls the request still makes get a fresh thread for a moment."""
    lease = _lease.get()
    if lease is None or lease.executor is None:
        return False
    SyncToAsync.context_to_thread_executor.pop(lease.context, None)
    lease.handler._give_back(lease.executor)
    lease.executor = None
    return True


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, *, keep: int = 32):
        # The middleware chain is loaded in sync mode and run in one hop on the request's
        # thread, as under WSGI. Loaded in async mode (Django's default here) the chain went
        # loop -> thread (sync middleware) -> loop (async_to_sync around Django's async
        # response path) -> thread (the view) and back, each hop ~0.1-0.3 ms of Daphne's CPU.
        # Async views still work: Django runs them with async_to_sync, and a streamed body is
        # sent from the event loop as before.
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError("Django can only handle ASGI/HTTP connections, not %s." % scope["type"])
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="mgx-request")
        context = ThreadSensitiveContext(executor=executor)
        lease = _Lease(executor, context, self)
        token = _lease.set(lease)
        try:
            async with context:
                await self.handle(scope, receive, send)
        finally:
            _lease.reset(token)
            if lease.executor is not None:
                self._give_back(lease.executor)
                lease.executor = None

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    def _give_back(self, executor) -> None:
        # Only from the event loop's thread, so the list needs no lock. A request cancelled
        # mid-call leaves its sync code running; the next request queued on this thread
        # simply waits for it, as it would have waited for any other busy thread.
        if len(self._idle) < self.keep:
            self._idle.append(executor)
        else:
            executor.submit(connections.close_all)
            executor.shutdown(wait=False)
