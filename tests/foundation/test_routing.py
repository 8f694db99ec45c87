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


@pytest.mark.parametrize(
    "earlier, hot",
    [
        ("a/<str:anything>", "a/b"),  # a converter that accepts the hot literal
        ("s/me/access", "s/<str:space>/access"),  # a literal the hot converter accepts
        ("s/<int:n>/access", "s/<str:space>/access"),  # two converters
        ("s/<path:rest>", "s/x/access"),  # a converter that spans slashes
    ],
)
def test_a_route_is_not_moved_ahead_of_one_that_overlaps_it(earlier: str, hot: str) -> None:
    routes = flattened([path(earlier, view, name="earlier"), path(hot, view, name="hot")])
    with pytest.raises(ImproperlyConfigured, match="cannot move ahead"):
        hot_first(routes, ["hot"])


def test_hot_routes_are_checked_against_each_other_too() -> None:
    routes = flattened([path("a", view, name="a"), path("<str:p>", view, name="p")])
    with pytest.raises(ImproperlyConfigured, match="cannot move ahead"):
        hot_first(routes, ["p", "a"])
    assert [route.name for route in hot_first(routes, ["a", "p"])] == ["a", "p"]


def test_a_route_moves_ahead_of_routes_that_cannot_match_its_paths() -> None:
    routes = flattened(
        [
            path("a/<int:number>", view, name="n"),
            path("a/b/c", view, name="deeper"),
            path("s/<str:space>", view, name="space"),
            path("a/b", view, name="b"),
            path("s/<str:space>/access", view, name="access"),
        ]
    )
    moved = hot_first(routes, ["access", "b"])
    assert [route.name for route in moved] == ["access", "b", "n", "deeper", "space"]


def test_an_include_overlaps_the_routes_under_its_prefix() -> None:
    namespaced = path("p/", include(([path("q", view, name="q")], "ns")))
    routes = [namespaced, *flattened([path("p/x", view, name="px"), path("r", view, name="r")])]
    with pytest.raises(ImproperlyConfigured, match="cannot move ahead"):
        hot_first(routes, ["px"])
    assert hot_first(routes, ["r"])[0].name == "r"


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
    with pytest.raises(ImproperlyConfigured, match="must end with a slash"):
        flattened([path("x", view)], prefix="p")
