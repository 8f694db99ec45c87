"""Routes under ``/api/v1/auth/passkeys/``."""

from django.urls import path

from accounts.passkeys import views

urlpatterns = [
    path("capability", views.PasskeyCapabilityView.as_view(), name="passkeys-capability"),
    path(
        "register/options",
        views.PasskeyRegisterOptionsView.as_view(),
        name="passkeys-register-options",
    ),
    path(
        "register/verify",
        views.PasskeyRegisterVerifyView.as_view(),
        name="passkeys-register-verify",
    ),
    path(
        "authenticate/options",
        views.PasskeyAuthenticateOptionsView.as_view(),
        name="passkeys-authenticate-options",
    ),
    path(
        "authenticate/verify",
        views.PasskeyAuthenticateVerifyView.as_view(),
        name="passkeys-authenticate-verify",
    ),
    path("", views.PasskeyListView.as_view(), name="passkeys-list"),
    path("<str:passkey_id>", views.PasskeyDetailView.as_view(), name="passkeys-detail"),
]
