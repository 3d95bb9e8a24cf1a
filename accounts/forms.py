from django import forms
from django.contrib.auth.forms import PasswordChangeForm


class LoginForm(forms.Form):
    username = forms.CharField(max_length=254, strip=True)
    password = forms.CharField(strip=False, widget=forms.PasswordInput)

    def attempt(self, login) -> bool:
        """Validate, then call `login(username=, password=)`; a refusal (services.LoginFailed)
        becomes the form's error. True when the user is now logged in."""
        from .services import LoginFailed

        if not self.is_valid():
            self.errors.clear()
            self.add_error(None, "Enter your user name and password.")
            return False
        try:
            login(username=self.cleaned_data["username"], password=self.cleaned_data["password"])
        except LoginFailed as exc:
            self.add_error(None, str(exc))
            return False
        return True


class SignupForm(forms.Form):
    username = forms.CharField(max_length=100, strip=True)
    email = forms.EmailField(required=False)
    password = forms.CharField(strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(strip=False, widget=forms.PasswordInput, label="Password again")

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return data


class SSHKeyForm(forms.Form):
    title = forms.CharField(max_length=100, required=False, strip=True)
    public_key = forms.CharField(widget=forms.Textarea, strip=True)


class AppMemberForm(forms.Form):
    username = forms.CharField(max_length=100, strip=True)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput,
        help_text="Leave empty to generate one; it is shown once.",
    )


class ProfilePasswordForm(PasswordChangeForm):
    """Django's own form: old password, new password twice, the configured validators."""


class ExternalClientForm(forms.Form):
    """Register an OAuth client for an app outside MGX ("Your OAuth clients")."""

    GRANT_CHOICES = [
        ("authorization-code", "Authorization code"),
        ("refresh-token", "Refresh token"),
        ("password", "Password"),
        ("client-credentials", "Client credentials"),
    ]
    name = forms.CharField(max_length=255, strip=True, required=False)
    redirect_uris = forms.CharField(widget=forms.Textarea, required=False, strip=True)
    client_type = forms.ChoiceField(choices=[("confidential", "Confidential"), ("public", "Public")],
                                    initial="confidential")
    grants = forms.MultipleChoiceField(choices=GRANT_CHOICES, required=False,
                                       initial=["authorization-code", "refresh-token"])

    def redirect_uri_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("redirect_uris", "").splitlines() if line.strip()]
