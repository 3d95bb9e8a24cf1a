"""The first admin (`./mgx up`, `manage.py ensure_admin`)."""
import secrets

from django.contrib.auth import get_user_model


def admin_ensure(*, username: str = "admin", email: str = "admin@localhost") -> str | None:
    """Create the first admin when no superuser exists yet.

    Returns the generated password when a user was created (the only time it is ever shown),
    None when a superuser already existed.
    """
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email=email, password=password)
    return password


def admin_password_reset(*, username: str = "admin") -> str:
    User = get_user_model()
    user = User.objects.get(username=username, is_superuser=True)
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    return password
