from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from core.errors import NotFound
from core.rows import RowQuery

from .models import App

APP_BY_SLUG = RowQuery(App, "{slug} = %s")


def apps_for_user(*, user):
    """The user's apps with what their rows show (owner, dev phase, last change) in one query:
    the last change is the row the workspace services save on each commit, so listing apps
    runs no git (workspaces.models.LastChange says why)."""
    return App.objects.filter(owner=user).select_related("owner", "dev", "last_change")


def last_change(*, app) -> dict | None:
    """The app's newest commit as {sha, message, author, date}; None before its first."""
    try:
        return app.last_change.as_dict()
    except App.last_change.RelatedObjectDoesNotExist:
        return None


def apps_all():
    """Every app, for operators (`manage.py app_list`)."""
    return App.objects.select_related("owner", "dev").order_by("slug")


def apps_search(*, text: str = "", limit: int = 200):
    """Every user's apps whose name, address or owner contains `text` (the admins' All apps page),
    newest first, with what their rows show."""
    found = App.objects.select_related("owner", "dev", "last_change").order_by("-created_at")
    text = (text or "").strip()[:100]
    if text:
        found = found.filter(Q(name__icontains=text) | Q(slug__icontains=text) | Q(owner__username__icontains=text))
    return found[:limit]


def app_by_slug(*, slug: str) -> App | None:
    """An app by its address, for operators; None when there is none."""
    if "\x00" in (slug or ""):  # no slug has one, and PostgreSQL refuses it in a query (a 500)
        return None
    return App.objects.select_related("owner").filter(slug=(slug or "").strip().lower()).first()


def app_for_user(*, user, slug: str) -> App:
    """The app, if `user` may touch it (owner or MGX admin). Anyone else gets a 404: the app's
    existence is not theirs to learn."""
    if "\x00" in (slug or ""):  # no slug has one, and PostgreSQL refuses it in a query (a 500)
        raise NotFound("Not found.")
    # Every API call on an app comes through here: one query compiled once (core.rows).
    app = APP_BY_SLUG.get(slug)
    if app is None or not app.can_be_used_by(user):
        raise NotFound("Not found.")
    asking = getattr(user, "_wrapped", user)  # request.user is a lazy object around the user
    if app.owner_id == user.pk and isinstance(asking, App.owner.field.related_model):
        App.owner.field.set_cached_value(app, asking)  # the owner is the one asking: no query for app.owner
    return app


def app_usable_by(*, user, slug: str) -> bool:
    """May `user` see this app's live events? `app_for_user`'s rule, as a yes or no."""
    try:
        app_for_user(user=user, slug=slug)
    except NotFound:
        return False
    return True


def app_summary(*, app) -> dict:
    return {
        "slug": app.slug,
        "name": app.name,
        "framework": app.framework,
        "description": app.description,
        "owner": app.owner.get_username(),
        "created_at": app.created_at.isoformat(),
        "url": reverse("studio:detail", args=[app.slug]),
        "dev_url": f"{settings.MGX_APPS_URL}/apps/{app.slug}/dev/",
        "last_change": last_change(app=app),
    }
