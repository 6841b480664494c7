"""The whole spec surface under /uploads/: upload URLs point there too (plus SCRIPT_NAME, if any)."""

from django.urls import include, path

urlpatterns = [path("uploads/", include("upload_tickets.integrations.django.urls"))]
