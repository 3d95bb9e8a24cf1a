"""__APP_NAME__ API. Served under MGX_BASE_PATH + /api (the prefix is kept by the gateway)."""
import os

from fastapi import FastAPI

BASE_PATH = os.environ.get("MGX_BASE_PATH", "").rstrip("/")

app = FastAPI(title="__APP_NAME__", root_path=BASE_PATH)


@app.get("/api/health")
def health():
    return {"status": "ok", "app": "__APP_SLUG__"}
