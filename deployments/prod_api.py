"""Production over the JSON API: builds, deploys, releases, rollback, environment variables.

The seeds' paths exactly: `POST /api/apps/{slug}/prod/build`, `POST .../prod/deploy` (optional
`{"build": id}`, default the newest successful build), `GET .../prod/status`, `POST .../prod/stop`,
`POST .../prod/publish` (build, then deploy if the build succeeds), `PUT .../prod/auto-publish`,
`GET .../prod/releases`, `POST .../prod/releases/{id}/rollback`; plus the build list and one
build's stored output, and the app's variables (`.../prod/env`). Builds and deploys are queued
(202); poll `status` or a build until it settles. Domain errors (ProdError, BuildError,
Invalid, NotFound) are answered by core.api's translator. Secret values are never returned.
"""
from __future__ import annotations

import json
from typing import Literal

import pydantic
from ninja import Field, Router, Schema, Status

from core.api import ApiError, errors
from sessions_app.selectors import app_for_user

from . import builds, envvars, production, selectors

router = Router(tags=["production"])


class BuildOut(Schema):
    id: int
    number: int
    commit: str
    status: Literal["queued", "building", "succeeded", "failed"]
    message: str
    images: dict[str, str] = Field(description="role (app, backend, frontend) -> image tag")
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None = Field(description="How long it ran, once it finished.")
    step: str = Field(description="The step running now, while it builds.")
    publish: bool = Field(description="Deployed once it succeeds (Publish, auto-publish).")


class BuildLogOut(BuildOut):
    log: list[str]


class ReleaseErrorsOut(Schema):
    count: int = Field(description="Failing requests plus error-level log records outside them.")
    failing: int = Field(description="Requests that failed: an error span, or a 5xx answer.")
    error_logs: int
    requests: int = Field(description="Requests answered (health checks left out).")
    rate: float = Field(description="count / (requests + error_logs).")
    over: bool = Field(description="Past the threshold: the Prod tab and the dashboard show \"Errors\".")
    minutes: int = Field(description="The window counted (MGX_PROD_ERROR_WINDOW_MINUTES), from when it went live at most.")
    traces: list[str] = Field(description="The newest failing traces' ids.")
    traces_url: str = Field(description="The session page's Traces tab showing them.")


class ReleaseOut(Schema):
    id: int
    number: int
    status: Literal["starting", "live", "failed", "stopped"]
    message: str
    health: str
    build: int
    build_number: int
    commit: str
    images: dict[str, str]
    created_by: str
    created_at: str
    live_at: str | None
    rollback_of: int | None
    log_tail: list[str] = Field(description="A failed release's last log lines (secrets masked).")
    errors: ReleaseErrorsOut | None = Field(description="While live: its errors of the last minutes, once counted.")


class ProdStatusOut(Schema):
    url: str
    status: Literal["live", "starting", "not_deployed"]
    live: ReleaseOut | None
    latest_release: ReleaseOut | None
    latest_build: BuildOut | None
    building: bool
    auto_publish: bool


class AutoPublishIn(Schema):
    enabled: bool


class AutoPublishOut(Schema):
    enabled: bool


class DeployIn(Schema):
    build: int | None = Field(None, description="The build to deploy; the newest successful one when absent.")


class EnvVarOut(Schema):
    name: str
    secret: bool
    value: str | None = Field(description="null for a secret: its value is write-only.")
    updated_at: str


class EnvVarIn(Schema):
    value: str
    secret: bool = False


PROD_ERRORS = errors(404, 409, 503)


def _app(request, slug):
    return app_for_user(user=request.user, slug=slug)


@router.post("/apps/{slug}/prod/build", response={202: BuildOut, **PROD_ERRORS}, url_name="app_prod_build",
             summary="Build the production image(s)",
             description="From the workspace's newest commit. 409 while another build of the app runs.")
def prod_build(request, slug: str):
    build = builds.build_request(app=_app(request, slug), user=request.user)
    return Status(202, selectors.build_summary(build))


@router.post("/apps/{slug}/prod/publish", response={202: BuildOut, **PROD_ERRORS}, url_name="app_prod_publish",
             summary="Publish: build, then deploy if the build succeeds",
             description="Builds the workspace's newest commit; once the build succeeds it is deployed (a "
                         "release, as `deploy` makes). A failed build deploys nothing and says so in its "
                         "message. 409 while another build of the app runs.")
def prod_publish(request, slug: str):
    build = builds.build_request(app=_app(request, slug), user=request.user, publish=True)
    return Status(202, selectors.build_summary(build))


@router.put("/apps/{slug}/prod/auto-publish", response={200: AutoPublishOut, **errors(404, 422)},
            url_name="app_prod_auto_publish", summary="Switch auto-publish on or off",
            description="On: every new commit, once it is MGX_AUTO_PUBLISH_DELAY seconds old, is published.")
def prod_auto_publish(request, slug: str, payload: AutoPublishIn):
    setting = builds.auto_publish_set(app=_app(request, slug), enabled=payload.enabled, user=request.user)
    return {"enabled": setting.enabled}


@router.get("/apps/{slug}/prod/builds", response={200: list[BuildOut], **errors(404)}, url_name="app_prod_builds",
            summary="The app's builds, newest first")
def prod_builds(request, slug: str):
    return [selectors.build_summary(b) for b in selectors.builds_list(app=_app(request, slug))]


@router.get("/apps/{slug}/prod/builds/{build_id}", response={200: BuildLogOut, **errors(404)},
            url_name="app_prod_build_detail", summary="One build with its stored output")
def prod_build_detail(request, slug: str, build_id: int):
    build = selectors.build_get(app=_app(request, slug), build_id=build_id)
    return {**selectors.build_summary(build), "log": selectors.build_log_lines(build=build)}


def _deploy_body(request) -> DeployIn:
    """The body is optional (the seeds post none), so it is read here rather than by ninja,
    which would refuse an empty one."""
    if not request.body.strip():
        return DeployIn()
    try:
        return DeployIn.model_validate(json.loads(request.body))
    except (ValueError, pydantic.ValidationError) as exc:
        raise ApiError('The body must be empty or {"build": <build id>}.', status=422, code="invalid") from exc


@router.post("/apps/{slug}/prod/deploy", response={202: ReleaseOut, **errors(404, 409, 422, 503)},
             url_name="app_prod_deploy", summary="Deploy a build",
             openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {
                 "type": "object", "properties": {"build": {"type": "integer"}}}}}}},
             description="Starts the release, waits for its health endpoint, then switches the route; an unhealthy "
                         "release is stopped and the live one keeps serving. Poll `status`.")
def prod_deploy(request, slug: str):
    app = _app(request, slug)  # who may see the app before what their body says
    release = production.release_request(app=app, user=request.user, build_id=_deploy_body(request).build)
    return Status(202, selectors.release_summary(release))


@router.get("/apps/{slug}/prod/status", response={200: ProdStatusOut, **errors(404)}, url_name="app_prod_status",
            summary="What production serves now")
def prod_status(request, slug: str):
    return selectors.prod_status(app=_app(request, slug))


@router.post("/apps/{slug}/prod/stop", response={200: ProdStatusOut, **PROD_ERRORS}, url_name="app_prod_stop",
             summary="Stop production", description="The prod route and the live release's containers go.")
def prod_stop(request, slug: str):
    app = _app(request, slug)
    production.prod_stop(app=app)
    return selectors.prod_status(app=app)


@router.get("/apps/{slug}/prod/releases", response={200: list[ReleaseOut], **errors(404)},
            url_name="app_prod_releases", summary="Release history, newest first")
def prod_releases(request, slug: str):
    return [selectors.release_summary(r) for r in selectors.releases_list(app=_app(request, slug))]


@router.post("/apps/{slug}/prod/releases/{release_id}/rollback", response={202: ReleaseOut, **PROD_ERRORS},
             url_name="app_prod_rollback", summary="Roll back to an earlier release",
             description="A new release of that release's build: its images again, no rebuild.")
def prod_rollback(request, slug: str, release_id: int):
    release = production.release_rollback(app=_app(request, slug), release_id=release_id, user=request.user)
    return Status(202, selectors.release_summary(release))


@router.get("/apps/{slug}/prod/env", response={200: list[EnvVarOut], **errors(404)}, url_name="app_prod_env",
            summary="The app's environment variables", description="Secret values are never returned.")
def env_list(request, slug: str):
    return selectors.env_var_list(app=_app(request, slug))


@router.put("/apps/{slug}/prod/env/{name}", response={200: list[EnvVarOut], **errors(400, 404, 422)},
            url_name="app_prod_env_set", summary="Set a variable", description="Takes effect at the next deploy.")
def env_set(request, slug: str, name: str, payload: EnvVarIn):
    app = _app(request, slug)
    envvars.env_var_set(app=app, name=name, value=payload.value, secret=payload.secret)
    return selectors.env_var_list(app=app)


@router.delete("/apps/{slug}/prod/env/{name}", response={200: list[EnvVarOut], **errors(404)},
               url_name="app_prod_env_delete", summary="Remove a variable")
def env_delete(request, slug: str, name: str):
    app = _app(request, slug)
    envvars.env_var_delete(app=app, name=name)
    return selectors.env_var_list(app=app)
