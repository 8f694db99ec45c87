from django.urls import path

from personas.api import views

urlpatterns = [
    path("admin/users", views.AdminUsersView.as_view(), name="admin-users"),
    path("admin/users/<str:user_id>", views.AdminUserView.as_view(), name="admin-user"),
    path(
        "admin/users/<str:user_id>/data", views.AdminUserDataView.as_view(), name="admin-user-data"
    ),
    path(
        "admin/users/<str:user_id>/tier", views.AdminUserTierView.as_view(), name="admin-user-tier"
    ),
    path(
        "admin/users/<str:user_id>/unlock",
        views.AdminUserUnlockView.as_view(),
        name="admin-user-unlock",
    ),
    path(
        "admin/users/<str:user_id>/revoke-sessions",
        views.AdminUserRevokeSessionsView.as_view(),
        name="admin-user-revoke-sessions",
    ),
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
