"""__APP_NAME__ API. Served under MGX_BASE_PATH (the gateway keeps the prefix; `root_path`).

Routes (all under the base path): `api/health`, `api/healthz`, `api/me`, `api/home`, and the
login routes in auth.py. Add your API routes below (or in a new router module) under `/api/`:
the dev server and the production frontend proxy exactly `api/` and `auth/` to this backend.
"""
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import auth, db, oidc, sessions, telemetry
from .config import APP_NAME, Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db.ensure_indexes_in_background(settings)
        yield
        app.state.telemetry.shutdown()

    app = FastAPI(title=APP_NAME, root_path=settings.base_path, lifespan=lifespan)
    app.state.settings = settings
    app.state.jwks = oidc.Jwks(settings.jwks_url)  # MGX's signing keys, cached per app
    app.include_router(auth.router)

    @app.get("/api/health")
    def health():
        return {"status": "ok", "app": settings.app_slug}

    @app.get("/api/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/api/me")
    def me(request: Request):
        user = sessions.current_user(request)
        if user is None:
            return JSONResponse({"error": "not logged in"}, status_code=401)
        return user

    @app.get("/api/home")
    def home(request: Request):
        """What the home page shows; the custom span is an example to copy."""
        with telemetry.tracer.start_as_current_span("home.render") as span:
            user = sessions.current_user(request)
            span.set_attribute("app.logged_in", user is not None)
            return {"app": APP_NAME, "user": user, "login_configured": settings.oauth_configured}

    app.state.telemetry = telemetry.setup(app, settings)
    return app


app = create_app()
