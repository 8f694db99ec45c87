from django.urls import path

from vault.api import views

urlpatterns = [
    path("me/encryption-vault/status", views.VaultStatusView.as_view(), name="vault-status"),
    path("me/encryption-vault/init", views.VaultInitView.as_view(), name="vault-init"),
    path("me/encryption-vault/key", views.VaultKeyView.as_view(), name="vault-key"),
    path("me/encryption-vault/rotate", views.VaultRotateView.as_view(), name="vault-rotate"),
    path(
        "me/encryption-vault/recovery-wrap",
        views.RecoveryWrapView.as_view(),
        name="vault-recovery-wrap",
    ),
    path(
        "me/encryption-vault/zero-knowledge",
        views.ZeroKnowledgeView.as_view(),
        name="vault-zero-knowledge",
    ),
    path("me/ai-mission-grant", views.MissionGrantView.as_view(), name="ai-mission-grant"),
]
