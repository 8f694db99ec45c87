"""The API's routes, flattened and with the hot paths first (mana_auth/routing.py), resolve
every path exactly as the apps' own lists under ``api/v1/`` did."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import include, path, resolve
from django.urls.resolvers import RegexPattern, URLResolver

from mana_auth import urls
from mana_auth.routing import flattened, hot_first, probe_path

APPS = urls.API_URLCONFS


def view(request: object) -> HttpResponse:
    return HttpResponse()


def _as_the_apps_listed_them() -> URLResolver:
    """The root URLconf as it was: one ``include`` per app under ``api/v1/``."""
    routes = [
        path("health", view),
        *[path("api/v1/", include(module)) for module in APPS],
    ]
    return URLResolver(RegexPattern(r"^/"), routes)


def test_every_api_route_resolves_as_before() -> None:
    before = _as_the_apps_listed_them()
    checked = 0
    for route in urls.API_ROUTES:
        probe = "/api/v1/" + probe_path(route)
        old, new = before.resolve(probe), resolve(probe)
        assert (old.func, old.kwargs, old.url_name) == (new.func, new.kwargs, new.url_name), probe
        assert new.route == old.route.replace("^/", "")
        checked += 1
    assert checked > 60  # every app's routes, the nested passkeys ones included


def test_the_hot_routes_come_first() -> None:
    names = [route.name for route in urls.API_ROUTES[: len(urls.HOT_ROUTES)]]
    assert names == list(urls.HOT_ROUTES)
    assert resolve("/api/v1/spaces/abc/access").url_name == "space-access"
    assert resolve("/api/v1/auth/passkeys/authenticate/verify").route == (
        "api/v1/auth/passkeys/authenticate/verify"
    )


def test_a_route_is_not_moved_ahead_of_one_that_matches_its_path() -> None:
    routes = flattened([path("a/<str:anything>", view, name="any"), path("a/b", view, name="b")])
    with pytest.raises(ImproperlyConfigured, match="cannot move ahead"):
        hot_first(routes, ["b"])
    # Ahead of routes that cannot match its path it moves.
    routes = flattened([path("a/<int:number>", view, name="n"), path("a/b", view, name="b")])
    assert [route.name for route in hot_first(routes, ["b"])] == ["b", "n"]


def test_an_unknown_hot_route_refuses_to_start() -> None:
    with pytest.raises(ImproperlyConfigured, match="not found: nope"):
        hot_first(flattened([path("a", view, name="a")]), ["nope"])


def test_flattening_joins_prefixes_and_keeps_namespaced_includes() -> None:
    nested = [path("p/", include([path("q/<int:n>", view, name="q")]))]
    (route,) = flattened(nested)
    assert route.pattern._route == "p/q/<int:n>"
    assert route.name == "q"
    assert probe_path(route) == "p/q/1"
    namespaced = [path("ns/", include(([path("x", view, name="x")], "app")))]
    (kept,) = flattened(namespaced)
    assert isinstance(kept, URLResolver)
