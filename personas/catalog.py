"""The persona catalog (``personas/catalog.json``): who the personas are and which Spaces they
share. The loader refuses a bad catalog with one precise message per problem, before anything
is written. Pure: reads a file, touches no database.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accounts.emails import email_key, normalize_email
from personas.models import Archetype, TickCadence
from spaces import modules, slugs

DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"
PERSONA_EMAIL_DOMAIN = "mana.test"
SHARED_SPACE_TYPES = ("family", "team")
_PERSONA_KEYS = {"email", "name", "archetype", "systemPrompt", "moduleMix", "tickCadence"}
_SPACE_KEYS = {"slug", "name", "type", "members"}


class CatalogError(Exception):
    """The catalog is not usable; ``problems`` holds one precise message per defect."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid persona catalog:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class CatalogPersona:
    email: str
    name: str
    archetype: str
    system_prompt: str
    module_mix: dict[str, float]
    tick_cadence: str


@dataclass(frozen=True)
class CatalogSpace:
    slug: str
    name: str
    type: str
    members: tuple[str, ...]  # emails; the first one owns the Space

    @property
    def owner(self) -> str:
        return self.members[0]


@dataclass(frozen=True)
class Catalog:
    personas: tuple[CatalogPersona, ...]
    spaces: tuple[CatalogSpace, ...]

    def emails(self) -> set[str]:
        return {email_key(persona.email) for persona in self.personas}


def is_persona_email(email: str) -> bool:
    """Personas live on ``@mana.test``, a domain that does not exist: no mail, no bounce, and
    no real person can ever own the address."""
    local, sep, domain = normalize_email(email).rpartition("@")
    return bool(local) and bool(sep) and domain == PERSONA_EMAIL_DOMAIN


def module_mix_problems(mix: Any) -> list[str]:
    """What is wrong with a module mix (``{module id: positive weight}``); empty when valid."""
    if not isinstance(mix, dict) or not mix:
        return ["moduleMix must be a non-empty object of module id to weight"]
    problems = []
    for module_id, weight in mix.items():
        module = modules.MODULES.get(module_id)
        if module is None:
            problems.append(f"unknown module {module_id!r} (not in the spaces module registry)")
        elif not module.built:
            problems.append(f"module {module_id!r} is not built yet")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight <= 0
        ):
            problems.append(f"weight of module {module_id!r} must be a positive number")
    return problems


def cadence_problem(cadence: Any) -> str | None:
    if cadence not in TickCadence.values:
        return f"bad tickCadence {cadence!r} (expected one of: {', '.join(TickCadence.values)})"
    return None


def archetype_problem(archetype: Any) -> str | None:
    if archetype not in Archetype.values:
        return f"unknown archetype {archetype!r} (expected one of: {', '.join(Archetype.values)})"
    return None


def _persona(index: int, raw: Any, problems: list[str]) -> CatalogPersona | None:
    where = f"personas[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    email = raw.get("email")
    if isinstance(email, str) and email.strip():
        where = f"{where} ({email.strip()})"
    before = len(problems)
    missing = sorted(_PERSONA_KEYS - set(raw))
    unknown = sorted(set(raw) - _PERSONA_KEYS)
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    if not isinstance(email, str) or not is_persona_email(email):
        problems.append(f"{where}: email {email!r} must be an address on @{PERSONA_EMAIL_DOMAIN}")
    for field in ("name", "systemPrompt"):
        if field in raw and (not isinstance(raw[field], str) or not raw[field].strip()):
            problems.append(f"{where}: {field} must be a non-empty string")
    if "archetype" in raw and (problem := archetype_problem(raw["archetype"])):
        problems.append(f"{where}: {problem}")
    if "tickCadence" in raw and (problem := cadence_problem(raw["tickCadence"])):
        problems.append(f"{where}: {problem}")
    if "moduleMix" in raw:
        problems.extend(f"{where}: {problem}" for problem in module_mix_problems(raw["moduleMix"]))
    if len(problems) > before:
        return None
    return CatalogPersona(
        email=normalize_email(email),
        name=raw["name"].strip(),
        archetype=raw["archetype"],
        system_prompt=raw["systemPrompt"].strip(),
        module_mix={key: float(value) for key, value in raw["moduleMix"].items()},
        tick_cadence=raw["tickCadence"],
    )


def _space(index: int, raw: Any, known: set[str], problems: list[str]) -> CatalogSpace | None:
    where = f"sharedSpaces[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object")
        return None
    if isinstance(raw.get("slug"), str):
        where = f"{where} ({raw['slug']})"
    before = len(problems)
    missing = sorted(_SPACE_KEYS - set(raw))
    unknown = sorted(set(raw) - _SPACE_KEYS)
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    slug = raw.get("slug")
    if "slug" in raw and (
        not isinstance(slug, str) or not slugs.is_valid_slug(slug) or slugs.is_reserved(slug)
    ):
        problems.append(f"{where}: slug {slug!r} is not a valid, unreserved Space slug")
    if "name" in raw and (not isinstance(raw["name"], str) or not raw["name"].strip()):
        problems.append(f"{where}: name must be a non-empty string")
    if "type" in raw and raw["type"] not in SHARED_SPACE_TYPES:
        problems.append(
            f"{where}: type {raw['type']!r} must be one of {', '.join(SHARED_SPACE_TYPES)}"
        )
    members = raw.get("members")
    if "members" in raw:
        if (
            not isinstance(members, list)
            or len(members) != 2
            or not all(isinstance(m, str) for m in members)
        ):
            problems.append(f"{where}: members must be a list of two persona emails")
        else:
            keys = [email_key(member) for member in members]
            if keys[0] == keys[1]:
                problems.append(f"{where}: members must be two different personas")
            for member, key in zip(members, keys, strict=True):
                if key not in known:
                    problems.append(f"{where}: member {member!r} is not a persona in the catalog")
    if len(problems) > before:
        return None
    return CatalogSpace(
        slug=slug,
        name=raw["name"].strip(),
        type=raw["type"],
        members=tuple(normalize_email(member) for member in members),
    )


def catalog_parse(data: Any) -> Catalog:
    """Validate a decoded catalog; raise ``CatalogError`` listing every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise CatalogError(["the catalog must be a JSON object with personas and sharedSpaces"])
    unknown = sorted(set(data) - {"personas", "sharedSpaces"})
    if unknown:
        problems.append(f"unknown top-level field(s) {', '.join(unknown)}")
    raw_personas = data.get("personas")
    if not isinstance(raw_personas, list) or not raw_personas:
        raise CatalogError([*problems, "personas must be a non-empty list"])
    personas: list[CatalogPersona] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_personas):
        persona = _persona(index, raw, problems)
        if persona is None:
            continue
        key = email_key(persona.email)
        if key in seen:
            problems.append(
                f"personas[{index}] ({persona.email}): duplicate email "
                f"(already used by personas[{seen[key]}])"
            )
            continue
        seen[key] = index
        personas.append(persona)
    raw_spaces = data.get("sharedSpaces", [])
    spaces: list[CatalogSpace] = []
    if not isinstance(raw_spaces, list):
        problems.append("sharedSpaces must be a list")
    else:
        slugs_seen: set[str] = set()
        for index, raw in enumerate(raw_spaces):
            space = _space(index, raw, set(seen), problems)
            if space is None:
                continue
            if space.slug in slugs_seen:
                problems.append(f"sharedSpaces[{index}] ({space.slug}): duplicate slug")
                continue
            slugs_seen.add(space.slug)
            spaces.append(space)
    if problems:
        raise CatalogError(problems)
    return Catalog(personas=tuple(personas), spaces=tuple(spaces))


def catalog_load(path: Path | str | None = None) -> Catalog:
    """Read and validate the catalog file (the bundled one by default)."""
    source = Path(path) if path is not None else DEFAULT_CATALOG_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError([f"cannot read {source}: {exc.strerror or exc}"]) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            [f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]
        ) from exc
    return catalog_parse(data)
