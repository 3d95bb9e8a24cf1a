"""The frameworks an app can be built with: the one list. The App model's choices, the API's
schema, the dev runtimes, the agent's runner and prompts, and the bench read it from here.
Django-free, so the agent container and the CLI can import it too."""
from __future__ import annotations

from typing import Literal

# id (stored on App.framework, a folder of app_templates/) -> what people read
FRAMEWORK_LABELS: dict[str, str] = {
    "nextjs": "Next.js",
    "fastapi_vite": "FastAPI + React/Vite",
}
FRAMEWORKS: tuple[str, ...] = tuple(FRAMEWORK_LABELS)

# For schemas (django-ninja/pydantic): exactly the ids above.
FrameworkId = Literal[FRAMEWORKS]  # type: ignore[valid-type]
