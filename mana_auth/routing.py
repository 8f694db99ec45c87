"""The API's routes in one flat list with the hot paths first, so resolving them is cheap.

Django tries a URLconf's patterns one by one, and every level of ``include`` adds its own
cost. The API's routes sat in five app lists under one ``api/v1/`` prefix, so
``GET api/v1/spaces/{id}/access`` was matched against every accounts, security and vault route
first (~47 µs of resolving per request against ~6 µs for ``/health``; passkey verify ~32 µs
behind a nested include). ``api_routes`` flattens the apps' lists (includes without a
namespace become their routes with the prefix joined) and moves the hot routes to the front.

Moving a route ahead of others changes nothing only if none of the routes it overtakes
matches a path it matches: ``hot_first`` checks that for every hot route against every route
it overtakes, with a probe path (each converter filled with a value the converter accepts),
and refuses to start otherwise. Views, names, kwargs and the paths reverse() and the schema
see are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import import_module

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

Route = URLPattern | URLResolver

_CONVERTER = re.compile(r"<(?:(?P<kind>[^>:]+):)?(?P<name>[^>]+)>")
_PROBES = {
    "str": "probe",
    "slug": "probe",
    "int": "1",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _route_text(route: Route) -> str | None:
    pattern = route.pattern
    return pattern._route if isinstance(pattern, RoutePattern) else None


def routes_of(urlconfs: Iterable[str]) -> list[Route]:
    """The ``urlpatterns`` of each module, named as ``include()`` names them."""
    return [route for name in urlconfs for route in import_module(name).urlpatterns]


def flattened(routes: Iterable[Route], prefix: str = "") -> list[Route]:
    """Every endpoint of ``routes`` with its include prefixes joined into its own route;
    namespaced or regex-based includes are kept as they are."""
    out: list[Route] = []
    for route in routes:
        text = _route_text(route)
        if text is None:
            if prefix:
                raise ImproperlyConfigured(f"cannot flatten {route!r} under {prefix!r}")
            out.append(route)
        elif isinstance(route, URLPattern):
            if prefix:
                pattern = RoutePattern(prefix + text, name=route.pattern.name, is_endpoint=True)
                route = URLPattern(pattern, route.callback, route.default_args, route.name)
            out.append(route)
        elif route.namespace or route.app_name or route.default_kwargs:
            if prefix:
                raise ImproperlyConfigured(f"cannot flatten {route!r} under {prefix!r}")
            out.append(route)
        else:
            out.extend(flattened(route.url_patterns, prefix + text))
    return out


def probe_path(route: URLPattern) -> str:
    """A path the route matches: its route text with each converter filled in."""
    text = _route_text(route)
    if text is None:
        raise ImproperlyConfigured(f"{route!r} is not a path() route")
    return _CONVERTER.sub(lambda m: _PROBES.get(m.group("kind") or "str", "probe"), text)


def _matches(route: Route, path: str) -> bool:
    if isinstance(route, URLPattern):
        return route.pattern.match(path) is not None
    try:
        route.resolve(path)
    except Resolver404:
        return False
    return True


def hot_first(routes: Sequence[Route], names: Sequence[str]) -> list[Route]:
    """``routes`` with the routes named in ``names`` moved to the front, in that order; raises
    when a moved route would overtake one that matches the same path."""
    by_name = {route.name: route for route in routes if isinstance(route, URLPattern)}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ImproperlyConfigured(f"hot routes not found: {', '.join(missing)}")
    hot = [by_name[name] for name in names]
    for route in hot:
        path = probe_path(route)
        if not _matches(route, path):
            raise ImproperlyConfigured(f"the probe {path!r} does not match {route!r}")
        for earlier in routes[: routes.index(route)]:
            if earlier not in hot and _matches(earlier, path):
                raise ImproperlyConfigured(f"{route!r} cannot move ahead of {earlier!r}")
    return hot + [route for route in routes if route not in hot]
