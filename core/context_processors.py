from django.conf import settings


def apps_url(request):
    """Where the apps live (their own origin): previews and links to apps are built from it."""
    return {"MGX_APPS_URL": settings.MGX_APPS_URL}
