from django.urls import include, path

from accounts.api import api_key_views, gdpr_views, views

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/signup-status", views.SignupStatusView.as_view(), name="auth-signup-status"),
    path("auth/verify-email", views.VerifyEmailView.as_view(), name="auth-verify-email"),
    path(
        "auth/resend-verification",
        views.ResendVerificationView.as_view(),
        name="auth-resend-verification",
    ),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
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
    path("me/data", gdpr_views.GdprDataView.as_view(), name="me-data"),
    path("me/data/export", gdpr_views.GdprDataExportView.as_view(), name="me-data-export"),
]
