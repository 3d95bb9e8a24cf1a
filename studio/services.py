"""The app lifecycle, which composes every other app: an app is made with its OAuth client and
its workspace (and its first message to the team), and deleted with everything that belongs to
it. The top floor: this imports the apps below; none of them imports it."""
import re
from functools import partial
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import AppMember
from accounts.services import app_client_register, app_member_add_account
from agents.services import run_start, session_purge
from containers.sandbox import app_network_remove
from core.announce import announce
from core.errors import Conflict, LimitReached
from databases.provisioning import AppDatabaseUnavailable, app_database_drop
from deployments.builds import builds_purge
from deployments.production import ProdError, prod_purge
from deployments.services import DevError, dev_purge
from observability.services import telemetry_delete
from sessions_app.models import App, validate_slug
from workspaces.services import workspace_create, workspace_delete, workspace_for

TEMPLATES_DIR = Path(settings.BASE_DIR) / "app_templates"


def slug_suggest(name: str) -> str:
    # Django's slugify keeps underscores; app addresses do not allow them.
    return re.sub(r"-{2,}", "-", slugify(name).replace("_", "-"))[:40].strip("-")


def _apps_room(owner, *, lock: bool = False) -> None:
    """LimitReached when `owner` owns MGX_MAX_APPS_PER_USER apps already (admins too: a limit is
    raised for everyone, in the settings). `lock`: inside the creating transaction, the owner's
    row is locked first, so two creations at once by one person are counted one after the
    other (on PostgreSQL; SQLite has no row locks, and lets such a pair through)."""
    limit = settings.MGX_MAX_APPS_PER_USER
    if not limit:
        return
    if lock:
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    owned = App.objects.filter(owner=owner).count()
    if owned >= limit:
        raise LimitReached(f"{owner.get_username()} owns {owned} apps, the most one person may own "
                           f"(MGX_MAX_APPS_PER_USER = {limit}). Delete one to make room; nothing was created.")


def _free_slug(taken: str) -> str:
    """An address like `taken` that no app has and no workspace left on disk holds ("" if none)."""
    for n in range(2, 10):
        candidate = f"{taken[:37].rstrip('-')}-{n}"
        try:
            validate_slug(candidate)
        except ValidationError:
            return ""
        probe = App(slug=candidate)
        if not App.objects.filter(slug=candidate).exists() and not workspace_for(probe).root.exists():
            return candidate
    return ""


def app_create(*, owner, name: str, framework: str, description: str = "", slug: str = "") -> App:
    """Create the app and its workspace (template copied, first commit), or neither. A
    description becomes the team's first message once the app is committed (its first run).

    Raises LimitReached when the owner has MGX_MAX_APPS_PER_USER apps already, ValidationError
    with a message per field; nothing is created then.
    """
    _apps_room(owner)
    name = (name or "").strip()
    slug = (slug or "").strip().lower() or slug_suggest(name)
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the app a name."]
    elif len(name) > 100:
        errors["name"] = ["Keep the name under 100 characters."]
    if framework not in App.Framework.values:
        errors["framework"] = [f"Choose one of: {', '.join(App.Framework.labels)}."]
    try:
        validate_slug(slug)
    except ValidationError as exc:
        errors["slug"] = exc.messages
    if "slug" not in errors and App.objects.filter(slug=slug).exists():
        free = _free_slug(slug)
        errors["slug"] = [f"The address “{slug}” is taken; choose another" + (f", such as “{free}”." if free else ".")]
    app = App(owner=owner, name=name, framework=framework, description=(description or "").strip(), slug=slug)
    if "slug" not in errors and workspace_for(app).root.exists():
        # Left on disk by an app that was deleted: never overwritten, never reused silently.
        errors["slug"] = [f"A workspace named “{slug}” is still on disk from an earlier app; choose another address."]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            _apps_room(owner, lock=True)
            app.save()
            # The app's OAuth2 client (its users log in through MGX) comes with it, and its owner
            # may log into it with their MGX account (a member like any other, removable).
            app_client_register(app=app)
            app_member_add_account(app=app, user=owner, source=AppMember.Source.OWNER)
            # Inside the transaction: if the workspace cannot be made, the App row goes too.
            workspace_create(app=app, template_dir=TEMPLATES_DIR / framework, author=owner.get_username())
    except IntegrityError:
        raise ValidationError({"slug": [f"The address “{slug}” is taken; choose another."]})
    except LimitReached:
        raise  # refused before anything was made: no workspace of this app to remove
    except Exception:
        workspace_delete(app=app)
        raise
    # Once the app is committed: a listener must find the app it hears about.
    transaction.on_commit(partial(announce, slug=app.slug, kind="app.created",
                                  data={"slug": app.slug, "by": owner.get_username()}), robust=True)
    if app.description:
        # After the commit, so the run (a Celery task) finds the app; a failure to queue it is
        # logged and leaves the app made (the person can still send the message in the chat).
        transaction.on_commit(partial(_first_message_send, app=app, owner=owner), robust=True)
    return app


def _first_message_send(*, app, owner) -> None:
    """What the person typed on "New app" is their first message to the team: stored in the
    chat and answered by a run, exactly as if they had sent it there."""
    run_start(app=app, user=owner, text=app.description)


class AppDeleteError(Conflict):
    """The app could not be deleted; nothing was removed. The message says why."""


def app_delete(*, app, by: str = "MGX") -> None:
    """Delete the app and everything that belongs to it: its dev, production and agent
    containers, builds and images, gateway routes and package caches, its database `app_<slug>`,
    the team's conversation and events, its OAuth client and app-only users, its workspace. Containers go first: if the Docker engine does not answer, nothing is
    deleted (a row without containers is better than containers nobody can see).
    `by`: who asked (a username, or "MGX" for an operator's command), for the announcement."""
    try:
        dev_purge(app=app)
        prod_purge(app=app)
        app_database_drop(app=app)
    except (DevError, ProdError, AppDatabaseUnavailable) as exc:
        raise AppDeleteError(f"{exc} The app was not deleted.") from exc
    builds_purge(app=app)
    session_purge(slug=app.slug)
    app_network_remove(slug=app.slug)  # after its last container (the agent's) has been killed
    telemetry_delete(slug=app.slug)  # a later app given the slug starts without these traces
    slug = app.slug
    with transaction.atomic():
        app.delete()  # cascades: dev environment, OAuth client, members (app-only accounts too)
    workspace_delete(app=app)
    # An open session page hears it (its socket's group is the app's), and can say so.
    announce(slug=slug, kind="app.deleted", data={"slug": slug, "by": by})
