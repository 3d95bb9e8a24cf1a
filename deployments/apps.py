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


def _ssh_keys_changed(sender, instance, **kwargs):
    # A key added or removed on the profile reaches the owner's running dev containers at once
    # (after the commit, so the new set is what is read); accounts never imports deployments.
    from django.db import transaction

    from .services import ssh_keys_changed

    user_id = instance.user_id
    transaction.on_commit(lambda: ssh_keys_changed(user=_user(user_id)))


def _user(pk):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=pk).first()


class DeploymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save
        from oauth2_provider.models import get_access_token_model

        user_logged_out.connect(_session_ended, dispatch_uid="mgx_gateway_session_ended")
        from accounts.models import SSHKey

        post_save.connect(_ssh_keys_changed, sender=SSHKey, dispatch_uid="mgx_dev_ssh_key_saved")
        post_delete.connect(_ssh_keys_changed, sender=SSHKey, dispatch_uid="mgx_dev_ssh_key_deleted")
        post_delete.connect(_token_gone, sender=get_access_token_model(), dispatch_uid="mgx_gateway_token_gone")
