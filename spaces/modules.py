"""The canonical registry of Mana modules, which Space types may use them, and tier order.

Every other part of the service (the access endpoint, module-permission overrides, persona
module mixes) reads module ids from here. Pure: no database, no settings.

A module's ``required_tier`` is what the *Space* must have for the module to open (the tier
that gates access belongs to the active Space, not to the user). Some ids name modules that
are not built yet; listing them lets a feature be gated before its code lands.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Tiers ------------------------------------------------------------------------------------

TIERS: tuple[str, ...] = ("guest", "public", "beta", "alpha", "founder")
_TIER_LEVEL = {tier: level for level, tier in enumerate(TIERS)}


def tier_level(tier: str | None) -> int:
    """The rank of a tier; anything unknown ranks lowest (least access)."""
    return _TIER_LEVEL.get(tier or "", 0)


def tier_meets(actual: str | None, required: str) -> bool:
    """Whether ``actual`` grants at least what ``required`` asks for."""
    if required not in _TIER_LEVEL:
        raise ValueError(f"unknown tier {required!r}")
    return tier_level(actual) >= _TIER_LEVEL[required]


def tier_min(a: str, b: str) -> str:
    return a if tier_level(a) <= tier_level(b) else b


# --- Space types ------------------------------------------------------------------------------

SPACE_TYPES: tuple[str, ...] = ("personal", "brand", "club", "family", "team", "practice")
SHARED_SPACE_TYPES: tuple[str, ...] = tuple(t for t in SPACE_TYPES if t != "personal")


def is_space_type(value: object) -> bool:
    return isinstance(value, str) and value in SPACE_TYPES


# --- Modules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    id: str
    required_tier: str = "public"
    built: bool = True


_MODULE_LIST: tuple[Module, ...] = (
    Module("mana"),
    Module("profile"),
    Module("kontext"),
    Module("todo"),
    Module("calendar"),
    Module("contacts"),
    Module("notes"),
    Module("mail"),
    Module("storage"),
    Module("photos"),
    Module("chat"),
    Module("events"),
    Module("places"),
    Module("recipes"),
    Module("wetter"),
    Module("goals"),
    Module("activity"),
    Module("times"),
    Module("cards"),
    Module("quotes"),
    Module("presi", required_tier="beta"),
    Module("picture", required_tier="beta"),
    Module("website", required_tier="beta"),
    Module("invoices", required_tier="beta"),
    Module("finance", required_tier="beta"),
    Module("inventory", required_tier="beta"),
    Module("news", required_tier="beta"),
    Module("news-research", required_tier="beta"),
    Module("companion", required_tier="beta"),
    Module("firsts", required_tier="beta"),
    Module("wisekeep", required_tier="beta"),
    Module("mood", required_tier="beta"),
    Module("dreams", required_tier="beta"),
    Module("sleep", required_tier="beta"),
    Module("period", required_tier="beta"),
    Module("body", required_tier="beta"),
    Module("journal", required_tier="beta"),
    Module("habits", required_tier="beta"),
    Module("research-lab", required_tier="alpha"),
    Module("ai-agents", required_tier="alpha"),
    Module("comic", required_tier="alpha"),
    Module("memoro", required_tier="founder"),
    Module("social-relay", required_tier="founder", built=False),
    Module("landing", required_tier="founder", built=False),
    Module("club-members", required_tier="founder", built=False),
    Module("club-finance", required_tier="founder", built=False),
)

MODULES: dict[str, Module] = {module.id: module for module in _MODULE_LIST}
MODULE_IDS: tuple[str, ...] = tuple(MODULES)

ALL_MODULES = "*"

# Which modules each Space type may use. The personal Space gets everything; shared types get
# a curated subset. Intimate personal data (mood, dreams, sleep, period, body, journal) never
# belongs in a shared Space: if it would feel wrong shared with co-workers or club members,
# it is not listed.
SPACE_MODULE_ALLOWLIST: dict[str, tuple[str, ...] | str] = {
    "personal": ALL_MODULES,
    "brand": (
        "mana", "social-relay", "mail", "contacts", "calendar", "storage", "landing", "website",
        "presi", "cards", "picture", "quotes", "news-research", "research-lab", "ai-agents",
        "companion", "times", "notes", "photos", "invoices", "activity", "goals", "comic",
    ),
    "club": (
        "mana", "contacts", "calendar", "events", "mail", "storage", "research-lab",
        "club-members", "club-finance", "invoices", "finance", "landing", "website", "presi",
        "cards", "quotes", "companion", "times", "notes", "photos", "activity", "goals", "comic",
    ),
    "family": (
        "mana", "contacts", "calendar", "events", "mail", "storage", "website", "recipes",
        "places", "presi", "cards", "photos", "notes", "companion", "goals", "activity",
        "wetter", "wisekeep", "firsts", "comic",
    ),
    "team": (
        "mana", "contacts", "calendar", "events", "storage", "mail", "website", "news-research",
        "research-lab", "presi", "cards", "picture", "notes", "quotes", "invoices", "companion",
        "ai-agents", "times", "activity", "goals", "comic",
    ),
    "practice": (
        "mana", "contacts", "calendar", "storage", "mail", "website", "invoices", "finance",
        "times", "notes", "presi", "cards", "quotes", "companion", "research-lab", "activity",
        "goals", "comic",
    ),
}  # fmt: skip


def modules_for_type(space_type: str) -> tuple[str, ...]:
    """The module ids a Space of this type may use, in registry order."""
    allow = SPACE_MODULE_ALLOWLIST.get(space_type)
    if allow is None:
        return ()
    if allow == ALL_MODULES:
        return MODULE_IDS
    allowed = set(allow)
    return tuple(module_id for module_id in MODULE_IDS if module_id in allowed)


def is_module_allowed(module_id: str, space_type: str) -> bool:
    return module_id in modules_for_type(space_type)


# --- Levels -----------------------------------------------------------------------------------

LEVELS: tuple[str, ...] = ("none", "read", "write", "admin")
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}

# What each role may do in a module when no override narrows it.
ROLE_DEFAULT_LEVEL: dict[str, str] = {"owner": "admin", "admin": "admin", "member": "write"}


def level_min(*levels: str) -> str:
    return min(levels, key=lambda level: _LEVEL_RANK[level])


def effective_level(
    *,
    module_id: str,
    space_type: str,
    space_tier: str,
    role: str,
    override: str | None = None,
) -> str:
    """allowlist ∩ tier gate ∩ role default ∩ override: an override only ever narrows."""
    module = MODULES.get(module_id)
    if module is None or not is_module_allowed(module_id, space_type):
        return "none"
    if not tier_meets(space_tier, module.required_tier):
        return "none"
    level = ROLE_DEFAULT_LEVEL.get(role, "none")
    if override is not None:
        level = level_min(level, override)
    return level


def _check_registry() -> None:
    for space_type in SPACE_TYPES:
        if space_type not in SPACE_MODULE_ALLOWLIST:
            raise ValueError(f"no allowlist for Space type {space_type!r}")
    for space_type, allow in SPACE_MODULE_ALLOWLIST.items():
        if allow == ALL_MODULES:
            continue
        unknown = set(allow) - set(MODULES)
        if unknown:
            raise ValueError(f"allowlist of {space_type!r} names unknown modules {unknown}")
    for module in _MODULE_LIST:
        if module.required_tier not in _TIER_LEVEL:
            raise ValueError(f"module {module.id!r} has an unknown tier")


_check_registry()
