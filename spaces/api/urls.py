from django.urls import path

from spaces.api import views

urlpatterns = [
    path("spaces/types", views.SpaceTypesView.as_view(), name="spaces-types"),
    path("spaces", views.SpacesView.as_view(), name="spaces"),
    path("spaces/<str:space_id>", views.SpaceDetailView.as_view(), name="space-detail"),
    path("spaces/<str:space_id>/access", views.SpaceAccessView.as_view(), name="space-access"),
    path("spaces/<str:space_id>/members", views.SpaceMembersView.as_view(), name="space-members"),
    path(
        "spaces/<str:space_id>/members/<str:user_id>",
        views.SpaceMemberView.as_view(),
        name="space-member",
    ),
    path("spaces/<str:space_id>/leave", views.SpaceLeaveView.as_view(), name="space-leave"),
    path(
        "spaces/<str:space_id>/invitations",
        views.SpaceInvitationsView.as_view(),
        name="space-invitations",
    ),
    path(
        "spaces/<str:space_id>/invitations/<str:invitation_id>",
        views.SpaceInvitationView.as_view(),
        name="space-invitation",
    ),
    path(
        "spaces/<str:space_id>/module-permissions",
        views.SpaceModulePermissionsView.as_view(),
        name="space-module-permissions",
    ),
    path(
        "spaces/<str:space_id>/credentials",
        views.SpaceCredentialsView.as_view(),
        name="space-credentials",
    ),
    path(
        "spaces/<str:space_id>/credentials/<str:credential_id>",
        views.SpaceCredentialView.as_view(),
        name="space-credential",
    ),
    path("invitations/accept", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("invitations/decline", views.InvitationDeclineView.as_view(), name="invitation-decline"),
    path(
        "me/bootstrap-singletons",
        views.BootstrapSingletonsView.as_view(),
        name="me-bootstrap-singletons",
    ),
    path(
        "admin/spaces/<str:space_id>/tier",
        views.AdminSpaceTierView.as_view(),
        name="admin-space-tier",
    ),
    path(
        "internal/org/<str:org_id>/member/<str:user_id>",
        views.InternalMembershipView.as_view(),
        name="internal-org-member",
    ),
    path(
        "internal/spaces/<str:space_id>/credentials/<str:credential_id>",
        views.InternalSpaceCredentialView.as_view(),
        name="internal-space-credential",
    ),
]
