from django.urls import path

from security.api import mfa_views, views

urlpatterns = [
    path("auth/security-events", views.SecurityEventsView.as_view(), name="auth-security-events"),
    # Second factors and magic links
    path("auth/login/mfa", mfa_views.MfaLoginView.as_view(), name="auth-login-mfa"),
    path("auth/magic-link", mfa_views.MagicLinkRequestView.as_view(), name="auth-magic-link"),
    path(
        "auth/magic-link/verify",
        mfa_views.MagicLinkVerifyView.as_view(),
        name="auth-magic-link-verify",
    ),
    path("me/mfa", mfa_views.MfaStatusView.as_view(), name="me-mfa"),
    path("me/mfa/totp/setup", mfa_views.TotpSetupView.as_view(), name="me-mfa-totp-setup"),
    path("me/mfa/totp/confirm", mfa_views.TotpConfirmView.as_view(), name="me-mfa-totp-confirm"),
    path("me/mfa/totp", mfa_views.TotpDisableView.as_view(), name="me-mfa-totp"),
    path(
        "me/mfa/backup-codes",
        mfa_views.BackupCodesRegenerateView.as_view(),
        name="me-mfa-backup-codes",
    ),
]
