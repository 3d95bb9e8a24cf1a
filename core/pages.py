"""The page translator: a domain error (`core.errors.MgxError`) that a view lets through becomes
an answer here, the same way for every page. HTMX requests get the message as a small fragment
(htmx is set to swap 4xx answers, see static/js/mgx.js); full pages get the site's error page.
Views that show an error inside their own panel (the file tree, the Dev tab) catch it
themselves and use `http_status` for the status."""
from django.shortcuts import render

from .errors import MgxError, http_status

TITLES = {404: "Not found", 409: "Not now", 413: "Too large", 503: "Unavailable"}


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not isinstance(exc, MgxError):
            return None
        status = http_status(exc)
        template = "core/error_fragment.html" if getattr(request, "htmx", False) else "core/error.html"
        return render(request, template, {"message": str(exc), "title": TITLES.get(status, "Not accepted"),
                                          "status": status}, status=status)
