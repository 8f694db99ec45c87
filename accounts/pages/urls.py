"""The hosted pages at the site's root (README "Pages")."""

from django.urls import path

from accounts.pages import views

app_name = "pages"

urlpatterns = [
    path("", views.LandingView.as_view(), name="landing"),
    path("signup", views.SignupView.as_view(), name="signup"),
    path("login", views.LoginView.as_view(), name="login"),
    path("login/mfa", views.MfaView.as_view(), name="login-mfa"),
    path("logout", views.LogoutView.as_view(), name="logout"),
    path("forgot-password", views.ForgotPasswordView.as_view(), name="forgot-password"),
    path("reset-password", views.ResetPasswordView.as_view(), name="reset-password"),
    path("magic-link", views.MagicLinkView.as_view(), name="magic-link"),
    path("verify-email", views.VerifyEmailView.as_view(), name="verify-email"),
    path("report-compromise", views.ReportCompromiseView.as_view(), name="report-compromise"),
]
