"""The API's routes in one flat list with the hot paths first, so resolving them is cheap.

Django tries a URLconf's patterns one by one, and every level of ``include`` adds its own
cost. The API's routes sat in five app lists under one ``api/v1/`` prefix, so
``GET api/v1/spaces/{id}/access`` was matched against every accounts, security and vault route
first (~47 µs of resolving per request against ~6 µs for ``/health``; passkey verify ~32 µs
behind a nested include). ``flattened`` joins the apps' lists into one (includes without a
namespace become their routes with the prefix joined); ``hot_first`` moves the hot routes to
the front.

Moving a route ahead of others changes nothing only if no path matches both it and a route
it overtakes: ``hot_first`` checks every pair whose order the move inverts, segment by
segment (equal literals, a literal the converter accepts, two converters: overlapping; a
converter that can span slashes: overlapping), and refuses to start otherwise. Views, names,
kwargs and the paths reverse() and the schema see are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import import_module

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver
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
    """The ``urlpatterns`` of each module, named as ``include()`` names them (a module with an
    ``app_name`` would be a namespace under ``include()``: refused, not flattened)."""
    modules = [import_module(name) for name in urlconfs]
    for module in modules:
        if getattr(module, "app_name", None):
            raise ImproperlyConfigured(f"{module.__name__} has an app_name: include() it")
    return [route for module in modules for route in module.urlpatterns]


def flattened(routes: Iterable[Route], prefix: str = "") -> list[Route]:
    """Every endpoint of ``routes`` with its include prefixes joined into its own route;
    namespaced or regex-based includes are kept as they are."""
    if prefix and not prefix.endswith("/"):
        raise ImproperlyConfigured(f"cannot flatten under {prefix!r}: it must end with a slash")
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


_CONVERTER_REGEX = {
    "str": "[^/]+",
    "int": "[0-9]+",
    "slug": "[-a-zA-Z0-9_]+",
    "uuid": "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}


def _segment_regex(segment: str) -> re.Pattern[str] | None:
    """The segment as a regex; None for a converter that may span segments (``path``) or
    that this module does not know (treated as matching anything)."""
    parts, last = [], 0
    for match in _CONVERTER.finditer(segment):
        kind = match.group("kind") or "str"
        if kind not in _CONVERTER_REGEX:
            return None
        parts += [re.escape(segment[last : match.start()]), _CONVERTER_REGEX[kind]]
        last = match.end()
    parts.append(re.escape(segment[last:]))
    return re.compile("".join(parts))


def _segments_overlap(a: str, b: str) -> bool:
    """Whether some text could match both segments (conservative: two converters overlap)."""
    a_literal, b_literal = "<" not in a, "<" not in b
    if a_literal and b_literal:
        return a == b
    if a_literal or b_literal:
        literal, other = (a, b) if a_literal else (b, a)
        regex = _segment_regex(other)
        return regex is None or regex.fullmatch(literal) is not None
    return True


def routes_overlap(a: Route, b: Route) -> bool:
    """Whether one path could be matched by both routes (conservative: True when unsure)."""
    a_text, b_text = _route_text(a), _route_text(b)
    if a_text is None or b_text is None:
        return True
    a_parts, b_parts = a_text.split("/"), b_text.split("/")
    if any(_segment_regex(part) is None for part in (*a_parts, *b_parts)):
        return True  # a converter that can span slashes
    if isinstance(a, URLPattern) and isinstance(b, URLPattern):
        if len(a_parts) != len(b_parts):
            return False
        return all(_segments_overlap(x, y) for x, y in zip(a_parts, b_parts, strict=True))
    if not isinstance(a, URLPattern) and not isinstance(b, URLPattern):
        return True
    # An include matches every path that starts with its prefix ("auth/passkeys/").
    prefix, endpoint = (a_parts, b_parts) if isinstance(b, URLPattern) else (b_parts, a_parts)
    if prefix[-1] != "":
        return True
    prefix = prefix[:-1]
    if len(endpoint) <= len(prefix):
        return False
    return all(_segments_overlap(x, y) for x, y in zip(prefix, endpoint, strict=False))


def hot_first(routes: Sequence[Route], names: Sequence[str]) -> list[Route]:
    """``routes`` with the routes named in ``names`` moved to the front, in that order; raises
    when the move would put a route ahead of one it overlaps (some path matches both)."""
    by_name = {route.name: route for route in routes if isinstance(route, URLPattern)}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ImproperlyConfigured(f"hot routes not found: {', '.join(missing)}")
    hot = [by_name[name] for name in names]
    moved = hot + [route for route in routes if route not in hot]
    before = {id(route): index for index, route in enumerate(routes)}
    for new_index, route in enumerate(hot):
        # Every route this one now precedes but followed before: they must not overlap.
        for other in moved[new_index + 1 :]:
            if before[id(other)] < before[id(route)] and routes_overlap(route, other):
                raise ImproperlyConfigured(f"{route!r} cannot move ahead of {other!r}")
    return moved
