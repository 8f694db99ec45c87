from django.urls import include, path

from accounts.api import api_key_views, gdpr_views, mfa_views, signin_views, views

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/signup-status", views.SignupStatusView.as_view(), name="auth-signup-status"),
    path("auth/verify-email", views.VerifyEmailView.as_view(), name="auth-verify-email"),
    path(
        "auth/resend-verification",
        views.ResendVerificationView.as_view(),
        name="auth-resend-verification",
    ),
    path("auth/login", signin_views.LoginView.as_view(), name="auth-login"),
    path("auth/login/mfa", signin_views.MfaLoginView.as_view(), name="auth-login-mfa"),
    path("auth/magic-link", signin_views.MagicLinkRequestView.as_view(), name="auth-magic-link"),
    path(
        "auth/magic-link/verify",
        signin_views.MagicLinkVerifyView.as_view(),
        name="auth-magic-link-verify",
    ),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/validate", views.ValidateView.as_view(), name="auth-validate"),
    path("auth/session", views.SessionView.as_view(), name="auth-session"),
    path("auth/session-to-token", views.SessionToTokenView.as_view(), name="auth-session-to-token"),
    path("auth/sessions", views.SessionsView.as_view(), name="auth-sessions"),
    path(
        "auth/sessions/revoke-others",
        views.SessionsRevokeOthersView.as_view(),
        name="auth-sessions-revoke-others",
    ),
    path(
        "auth/sessions/<str:session_id>",
        views.SessionRevokeView.as_view(),
        name="auth-session-revoke",
    ),
    path("auth/forgot-password", views.ForgotPasswordView.as_view(), name="auth-forgot-password"),
    path("auth/reset-password", views.ResetPasswordView.as_view(), name="auth-reset-password"),
    path(
        "auth/reset-password/preview",
        views.ResetPasswordPreviewView.as_view(),
        name="auth-reset-password-preview",
    ),
    path(
        "auth/report-compromise",
        views.ReportCompromiseView.as_view(),
        name="auth-report-compromise",
    ),
    path("auth/profile", views.ProfileView.as_view(), name="auth-profile"),
    path("auth/change-email", views.ChangeEmailView.as_view(), name="auth-change-email"),
    path("auth/change-password", views.ChangePasswordView.as_view(), name="auth-change-password"),
    path("auth/account", views.AccountDeleteView.as_view(), name="auth-account"),
    path("auth/passkeys/", include("accounts.passkeys.urls")),
    path("me/api-keys", api_key_views.ApiKeysView.as_view(), name="me-api-keys"),
    path("me/api-keys/<str:key_id>", api_key_views.ApiKeyDetailView.as_view(), name="me-api-key"),
    path(
        "internal/api-keys/validate",
        api_key_views.ApiKeyValidateView.as_view(),
        name="internal-api-keys-validate",
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
    path("me/data", gdpr_views.GdprDataView.as_view(), name="me-data"),
    path("me/data/export", gdpr_views.GdprDataExportView.as_view(), name="me-data-export"),
]
