"""The pages' forms: labels, autocomplete hints and the first checks, in both languages.

The services judge everything that matters (the password policy, credentials, tokens); a form
only makes sure the fields are there and well-formed, with the limits the API applies.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.emails import email_is_assignable, normalize_email
from accounts.validators import MAX_PASSWORD_BYTES
from mana_auth.links import CALLBACK_MAX_LENGTH

TOKEN_MAX_LENGTH = 200
# accounts.emails.NOT_ASSIGNABLE_MESSAGE in the page's language (the API keeps its English).
_NOT_ASSIGNABLE = _("Use an address whose part before the @ is plain ASCII.")


def _input(kind: type[forms.Widget], **attrs: Any) -> forms.Widget:
    return kind(attrs=attrs)


class TargetFields(forms.Form):
    """Where the flow goes afterwards; re-checked on every request (``targets.target_from``)."""

    callbackURL = forms.CharField(
        required=False, max_length=CALLBACK_MAX_LENGTH, widget=forms.HiddenInput
    )
    next = forms.CharField(required=False, max_length=CALLBACK_MAX_LENGTH, widget=forms.HiddenInput)


class EmailField(forms.EmailField):
    """An address as the API reads it: NFKC, the domain lower-cased, then validated."""

    def to_python(self, value: Any) -> str:
        return super().to_python(normalize_email(value) if isinstance(value, str) else value)


class PasswordField(forms.CharField):
    """A password: never stripped, at most 4096 characters (the policy's byte limit is the
    service's to judge)."""

    def __init__(self, *, autocomplete: str, **kwargs: Any) -> None:
        super().__init__(
            strip=False,
            max_length=4096,
            widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
            **kwargs,
        )


class EmailForm(forms.Form):
    email = EmailField(
        label=_("Email address"),
        max_length=254,
        widget=_input(forms.EmailInput, autocomplete="email", spellcheck="false"),
    )


class LoginForm(forms.Form):
    """Email and password; "email me a link" and "send the confirmation again" need only the
    address (the view drops the password's requirement for them)."""

    email = EmailField(
        label=_("Email address"),
        max_length=254,
        # "webauthn": the browser offers saved passkeys in the address field (conditional UI).
        widget=_input(forms.EmailInput, autocomplete="username webauthn", spellcheck="false"),
    )
    password = PasswordField(label=_("Password"), autocomplete="current-password")

    def __init__(self, *args: Any, password_required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].required = password_required


class SignupForm(forms.Form):
    name = forms.CharField(
        label=_("Name (optional)"),
        required=False,
        max_length=200,
        widget=_input(forms.TextInput, autocomplete="name"),
    )
    email = EmailField(
        label=_("Email address"),
        max_length=254,
        widget=_input(forms.EmailInput, autocomplete="email", spellcheck="false"),
    )
    password = PasswordField(
        label=_("Password"),
        autocomplete="new-password",
        help_text=_("At least 8 characters. Not a common password, and not your name or address."),
    )

    def clean_email(self) -> str:
        address = self.cleaned_data["email"]
        if not email_is_assignable(address):
            raise forms.ValidationError(_NOT_ASSIGNABLE)
        return address


class OneTimeCodeInput(forms.TextInput):
    """A code field that is never filled in again: a wrong code is typed anew."""

    def format_value(self, value: Any) -> None:
        return None


class MfaForm(forms.Form):
    mfa_token = forms.CharField(max_length=TOKEN_MAX_LENGTH, widget=forms.HiddenInput)
    method = forms.ChoiceField(
        label=_("What do you use?"),
        choices=[
            ("totp", _("A code from my authenticator app")),
            ("backup_code", _("A backup code")),
        ],
        initial="totp",
        widget=forms.RadioSelect,
    )
    code = forms.CharField(
        label=_("Code"),
        max_length=64,
        widget=_input(
            OneTimeCodeInput,
            autocomplete="one-time-code",
            inputmode="text",
            spellcheck="false",
            autocapitalize="none",
        ),
    )


class ResetPasswordForm(forms.Form):
    token = forms.CharField(max_length=TOKEN_MAX_LENGTH, widget=forms.HiddenInput)
    new_password = PasswordField(
        label=_("New password"),
        autocomplete="new-password",
        help_text=_("At least 8 characters. Not a common password, and not your name or address."),
    )
    new_password_again = PasswordField(
        label=_("New password, once more"), autocomplete="new-password"
    )
    revoke_factors = forms.BooleanField(
        label=_("Also remove every passkey, API key, authenticator app and backup code"),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("new_password"), data.get("new_password_again")
        if first and second and first != second:
            self.add_error("new_password_again", _("The two passwords are not the same."))
        if first and len(first.encode()) > MAX_PASSWORD_BYTES:
            self.add_error("new_password", _("This password is too long."))
        return data


class VerifyPasswordForm(forms.Form):
    """The verification page's question: the password chosen at sign-up, or go on without."""

    token = forms.CharField(max_length=TOKEN_MAX_LENGTH, widget=forms.HiddenInput)
    password = PasswordField(
        label=_("The password you chose when you signed up"),
        autocomplete="current-password",
        required=False,
    )


class TokenForm(forms.Form):
    token = forms.CharField(max_length=TOKEN_MAX_LENGTH, widget=forms.HiddenInput)
