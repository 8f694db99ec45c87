from django.urls import path

from personas.api import views

urlpatterns = [
    path("admin/personas", views.AdminPersonasView.as_view(), name="admin-personas"),
    path("admin/personas/<str:persona_id>", views.AdminPersonaView.as_view(), name="admin-persona"),
    path(
        "admin/personas/<str:persona_id>/actions",
        views.AdminPersonaActionsView.as_view(),
        name="admin-persona-actions",
    ),
    path(
        "admin/personas/<str:persona_id>/feedback",
        views.AdminPersonaFeedbackView.as_view(),
        name="admin-persona-feedback",
    ),
]
