from django.urls import path

from security.api import views

urlpatterns = [
    path("auth/security-events", views.SecurityEventsView.as_view(), name="auth-security-events"),
]
