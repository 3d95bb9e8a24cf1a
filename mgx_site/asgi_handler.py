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
"""
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler
from django.db import connections


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self, *, keep: int = 32):
        super().__init__()
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError("Django can only handle ASGI/HTTP connections, not %s." % scope["type"])
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1, thread_name_prefix="mgx-request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # Only from the event loop's thread, so the list needs no lock. A request cancelled
            # mid-call leaves its sync code running; the next request queued on this thread
            # simply waits for it, as it would have waited for any other busy thread.
            if len(self._idle) < self.keep:
                self._idle.append(executor)
            else:
                executor.submit(connections.close_all)
                executor.shutdown(wait=False)
