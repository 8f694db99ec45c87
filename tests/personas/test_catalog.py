"""The persona catalog: the bundled file is valid, and the loader names every defect precisely."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from personas.catalog import DEFAULT_CATALOG_PATH, CatalogError, catalog_load, catalog_parse
from personas.crypto import persona_password
from personas.models import Archetype
from spaces.modules import MODULES


def bundled() -> dict:
    return json.loads(DEFAULT_CATALOG_PATH.read_text())


def problems_of(data: dict) -> list[str]:
    with pytest.raises(CatalogError) as info:
        catalog_parse(data)
    return info.value.problems


def test_the_bundled_catalog_has_ten_personas_over_the_seven_archetypes():
    catalog = catalog_load()

    assert len(catalog.personas) == 10
    assert {p.archetype for p in catalog.personas} == set(Archetype.values)
    assert all(p.email.endswith("@mana.test") for p in catalog.personas)
    assert all(set(p.module_mix) <= set(MODULES) for p in catalog.personas)
    assert all(p.system_prompt and p.name for p in catalog.personas)


def test_the_bundled_catalog_pairs_every_persona_into_five_family_or_team_spaces():
    catalog = catalog_load()

    assert len(catalog.spaces) == 5
    assert {space.type for space in catalog.spaces} == {"family", "team"}
    members = Counter(email for space in catalog.spaces for email in space.members)
    assert set(members) == {p.email for p in catalog.personas}
    assert set(members.values()) == {1}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["personas"][1].update(archetype="pirate"),
            "personas[1] (leon.student@mana.test): unknown archetype 'pirate'",
        ),
        (
            lambda d: d["personas"][2].update(email="sabine@example.com"),
            "personas[2] (sabine@example.com): email 'sabine@example.com' must be an address "
            "on @mana.test",
        ),
        (
            lambda d: d["personas"][3].update(email="MIA.student@mana.test"),
            "personas[3] (MIA.student@mana.test): duplicate email (already used by personas[0])",
        ),
        (
            lambda d: d["personas"][4]["moduleMix"].update(teleport=0.2),
            "personas[4] (lena.parent@mana.test): unknown module 'teleport'",
        ),
        (
            lambda d: d["personas"][5].update(tickCadence="monthly"),
            "personas[5] (tom.parent@mana.test): bad tickCadence 'monthly' "
            "(expected one of: hourly, daily, weekly)",
        ),
        (
            lambda d: d["personas"][6]["moduleMix"].update(todo=-1),
            "personas[6] (kai.dev@mana.test): weight of module 'todo' must be a positive number",
        ),
        (
            lambda d: d["personas"][7].pop("systemPrompt"),
            "personas[7] (ines.dev@mana.test): missing systemPrompt",
        ),
        (
            lambda d: d["sharedSpaces"][0]["members"].__setitem__(1, "ghost@mana.test"),
            "sharedSpaces[0] (persona-becker-family): member 'ghost@mana.test' is not a persona "
            "in the catalog",
        ),
        (
            lambda d: d["sharedSpaces"][1].update(type="club"),
            "sharedSpaces[1] (persona-hoffmann-family): type 'club' must be one of family, team",
        ),
        (
            lambda d: d["sharedSpaces"][2].update(slug="admin"),
            "sharedSpaces[2] (admin): slug 'admin' is not a valid, unreserved Space slug",
        ),
    ],
)
def test_the_loader_refuses_each_kind_of_bad_entry_with_a_precise_message(mutate, message):
    data = copy.deepcopy(bundled())
    mutate(data)

    problems = problems_of(data)

    assert any(problem.startswith(message) for problem in problems), problems


def test_the_loader_lists_every_problem_at_once():
    data = copy.deepcopy(bundled())
    data["personas"][0]["archetype"] = "pirate"
    data["personas"][9]["tickCadence"] = "sometimes"

    problems = problems_of(data)

    assert len(problems) >= 2
    assert "personas[0]" in str(CatalogError(problems))


def test_the_loader_refuses_unreadable_or_malformed_files(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        catalog_load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"personas": [')
    with pytest.raises(CatalogError, match=r"not valid JSON \(line 1"):
        catalog_load(broken)
    with pytest.raises(CatalogError, match="personas must be a non-empty list"):
        catalog_parse({"personas": []})


def test_the_derived_password_depends_on_secret_and_address_not_on_spelling():
    first = persona_password(email="Mia.Student@MANA.test", secret="s1")
    assert first == persona_password(email="mia.student@mana.test", secret="s1")
    assert first != persona_password(email="mia.student@mana.test", secret="s2")
    assert first != persona_password(email="leon.student@mana.test", secret="s1")
    assert len(first) == 64 and int(first, 16) >= 0
    with pytest.raises(ValueError):
        persona_password(email="mia.student@mana.test", secret="")
