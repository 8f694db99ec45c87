from django.urls import path

from spaces.pages import views

app_name = "spaces_pages"

urlpatterns = [
    path("invitations/accept", views.InvitationView.as_view(), name="invitation"),
]
