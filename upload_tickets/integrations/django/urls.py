"""The include: ``path("uploads/", include("upload_tickets.integrations.django.urls"))``.

One catch-all below the include hands every path to the API, which routes it (a 404 or
405 is the spec's JSON). Its view is the sync or the async one, as the configured API
is; that is decided when a path resolves, so a changed setting (tests) takes effect.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern
from django.urls.resolvers import RegexPattern, ResolverMatch

from upload_tickets.integrations.django import views

app_name = "upload_tickets"


class _ApiPattern(URLPattern):  # type: ignore[misc]  # Django ships no type information
    """The catch-all, resolving to the view the configured API takes."""

    def resolve(self, path: str) -> Any:
        """The match, with the sync or async view as the configured API is (the sync one answers a bad setting)."""
        match = super().resolve(path)
        if match is None:
            return None
        return ResolverMatch(
            views.view_for_configured_api(),
            match.args,
            match.kwargs,
            match.url_name,
            route=match.route,
            captured_kwargs=match.captured_kwargs,
            extra_kwargs=match.extra_kwargs,
        )


# `rest` is the path below the include, handed to the API as "/" + rest.
urlpatterns = [_ApiPattern(RegexPattern(r"^(?P<rest>.*)\Z", name="api", is_endpoint=True), views.serve, name="api")]
