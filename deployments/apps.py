from django.apps import AppConfig


def _session_ended(sender, request, **kwargs):
    # Sent by every logout (the logout view, a session whose token was revoked) before the
    # session is flushed, so its key is still there.
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        _invalidate(session_key=key)


def _token_gone(sender, instance, **kwargs):
    # DOT revokes an access token by deleting it (logout, revocation endpoint, refresh-token
    # reuse, password change, an admin); the dev previews it backed close with it.
    _invalidate(token_id=instance.pk)


def _invalidate(**what):
    from django.conf import settings
    from django.db import transaction

    from .gateway.builtin import auth_invalidate

    if settings.MGX_GATEWAY != "builtin":
        return
    # After the commit: a gateway deciding again before it would still find the token.
    transaction.on_commit(lambda: auth_invalidate(redis_url=settings.MGX_REDIS_URL, **what))


class DeploymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete
        from oauth2_provider.models import get_access_token_model

        user_logged_out.connect(_session_ended, dispatch_uid="mgx_gateway_session_ended")
        post_delete.connect(_token_gone, sender=get_access_token_model(), dispatch_uid="mgx_gateway_token_gone")
