"""The few server-rendered pages: login errors and the password form shown again with MGX's
message. Everything else is the React app in frontend/."""
from html import escape

from fastapi.responses import HTMLResponse

from .config import APP_NAME, Settings

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:560px;margin:64px auto;padding:0 24px;color:#1f2328}"
          "label{display:block;margin:8px 0}input{padding:6px;width:100%;box-sizing:border-box}"
          "button{padding:6px 14px;margin-top:8px}.error{color:#b42318}")


def page(title: str, body_html: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · {escape(APP_NAME)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
            f"<body><h1>{escape(title)}</h1>{body_html}</body></html>")
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(settings: Settings, message: str, status: int) -> HTMLResponse:
    base = settings.base_path
    return page("Login failed", f'<p class="error">{escape(message)}</p>'
                f'<p><a href="{escape(base)}/auth/login">Start again</a> · <a href="{escape(base)}/">Home</a></p>', status)


def password_form(settings: Settings, *, message: str = "", username: str = "", status: int = 200) -> HTMLResponse:
    base = escape(settings.base_path)
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return page("Log in", f"""{error}
<form method="post" action="{base}/auth/password">
  <label>Username <input name="username" autocomplete="username" value="{escape(username)}" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form>
<p><a href="{base}/auth/login">Log in with MGX</a> · <a href="{base}/">Home</a></p>""", status)
