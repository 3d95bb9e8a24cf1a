"""`/api/sessions` (list, create) and `/api/sessions/{slug}`: a session is one app."""
from ninja import Router, Schema, Status

from core.api import errors
from core.frameworks import FrameworkId
from sessions_app import selectors

from . import services

router = Router(tags=["sessions"])


class LastChangeOut(Schema):
    sha: str
    message: str
    author: str
    date: str


class SessionOut(Schema):
    slug: str
    name: str
    framework: FrameworkId
    description: str
    owner: str
    created_at: str
    url: str
    dev_url: str
    last_change: LastChangeOut | None


class SessionListOut(Schema):
    sessions: list[SessionOut]


class SessionIn(Schema):
    name: str
    framework: FrameworkId
    description: str = ""
    slug: str = ""  # made from the name when empty


@router.get("/sessions", response={200: SessionListOut, **errors()}, url_name="sessions",
            summary="Your apps", description="Only the caller's own apps, newest first.")
def sessions_list(request):
    return {"sessions": [selectors.app_summary(app=a) for a in selectors.apps_for_user(user=request.user)]}


@router.post("/sessions", response={201: SessionOut, **errors(400, 409, 422)}, url_name="sessions_create",
             summary="Create an app",
             description="Its workspace is copied from the framework's template and committed. 400 names the "
                         "field the service refused (a reserved or taken slug); 409 when the caller owns "
                         "MGX_MAX_APPS_PER_USER apps already.")
def sessions_create(request, payload: SessionIn):
    app = services.app_create(owner=request.user, **payload.dict())
    return Status(201, selectors.app_summary(app=app))


@router.get("/sessions/{slug}", response={200: SessionOut, **errors(404)}, url_name="session_detail",
            summary="One app", description="404 unless the caller owns it or is an MGX admin.")
def session_detail(request, slug: str):
    return selectors.app_summary(app=selectors.app_for_user(user=request.user, slug=slug))
