"""`/api/me`: who is calling."""
from typing import Literal

from ninja import Router, Schema

from core.api import errors

router = Router(tags=["me"])


class MeOut(Schema):
    sub: str
    username: str
    email: str
    is_superuser: bool
    auth: Literal["session", "bearer"]
    # Only with a bearer token: what the token is.
    client_id: str | None = None
    scope: str | None = None
    exp: int | None = None


@router.get("/me", response={200: MeOut, **errors()}, exclude_none=True, url_name="me",
            summary="Who the caller is", description="With a bearer token, also the token's client, scope and expiry.")
def me(request):
    user = request.user
    body = {"sub": str(user.pk), "username": user.get_username(), "email": user.email,
            "is_superuser": user.is_superuser, "auth": "session"}
    token = getattr(request, "oauth_token", None)
    if token is not None:
        body.update(auth="bearer", client_id=token.claims.get("client_id"), scope=token.claims.get("scope", ""),
                    exp=token.claims.get("exp"))
    return body
