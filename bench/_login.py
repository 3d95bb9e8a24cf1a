"""What the bench scripts share: a user logged in over HTTP through MGX's own login form, as a
browser does it (CSRF cookie, then the form), on the private stack the script started."""
import requests
from django.contrib.auth import get_user_model

USERNAME, PASSWORD = "bench", "bench-password-1"


def bench_login(base: str):
    """Make the bench user and log in at `base` (MGX's origin): (user, logged-in session)."""
    user = get_user_model().objects.create_user(username=USERNAME, password=PASSWORD)
    http = requests.Session()
    http.get(f"{base}/accounts/login/")
    http.post(f"{base}/accounts/login/", data={"username": USERNAME, "password": PASSWORD,
                                               "csrfmiddlewaretoken": http.cookies["csrftoken"]},
              headers={"Referer": f"{base}/accounts/login/"})
    return user, http
