from django.urls import path

from accounts.api import views

urlpatterns = [
    path(".well-known/jwks.json", views.JwksView.as_view(), name="jwks"),
]
