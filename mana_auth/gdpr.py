"""GDPR: the registry every app feeds with its own part of a user's data, and the walk over it.

Each app registers, in its ``AppConfig.ready()``, built from its own selectors:

- **export parts** (Art. 20): a section of the complete export and the model labels it covers
  (``register_export``);
- **summary parts** (Art. 15): a key of ``GET /me/data`` and the record shape documenting it
  (``register_summary``);
- **erasure steps** (Art. 17): what account deletion must do beyond the database's cascades
  (``register_erasure``);
- the models it deliberately leaves out of the export, and those whose rows may still name a
  deleted user, each with the reason (``register_excluded``, ``register_retained``).

Parts carry a ``position``: the documents keep one order whichever app registers first.
Completeness is checked, not hoped for: ``tests/gdpr/test_completeness.py`` walks Django's app
registry and fails for a model that can hold a user's data and is neither covered by an export
part nor excluded with a reason. Secrets never leave (password, token/key/code hashes, wrapped
keys, TOTP seeds, credential values); every key of the documents says what its value is.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework import serializers

EXPORT_FORMAT = "mana-auth/user-data-export@1"
EXPORT_ABOUT = (
    "Everything Mana's identity service stores about this account (GDPR Art. 15 and 20). "
    "Secrets (password hash, token and key hashes, wrapped keys, authenticator seeds, "
    "credential values) are never exported. 'coverage' names the stored record types each "
    "section holds; 'notExported' names those left out and why."
)


# --- What the parts are given and give back -----------------------------------------------------


class Context:
    """One export or summary of one user. What several parts need is computed ``once``."""

    def __init__(self, user: AbstractBaseUser, *, now: datetime | None = None) -> None:
        self.user = user
        self.now = now or timezone.now()
        self._memo: dict[str, Any] = {}

    def once(self, name: str, compute: Callable[[], Any]) -> Any:
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]


@dataclass
class Section:
    """One top-level part of the export and the rows (primary keys, per model) it carries."""

    key: str
    data: Any
    records: dict[str, set[str]] = field(default_factory=dict)

    def add(self, label: str, keys: Iterable[object]) -> None:
        self.records.setdefault(label, set()).update(str(key) for key in keys)


@dataclass
class Export:
    """The document and, per model label, the primary keys it covers (for the guard test)."""

    document: dict[str, Any]
    covered: dict[str, set[str]]


@dataclass(frozen=True)
class ExportPart:
    position: int
    labels: tuple[str, ...]
    build: Callable[[Context], Section]


@dataclass(frozen=True)
class SummaryPart:
    position: int
    key: str
    build: Callable[[Context], Any]
    schema: serializers.Field


ErasureStep = Callable[..., None]  # fn(*, user): inside the deletion's transaction


# --- The registry ------------------------------------------------------------------------------

_export: list[ExportPart] = []
_summary: list[SummaryPart] = []
_erasure: list[tuple[int, ErasureStep]] = []
_excluded: dict[str, str] = {}
_retained: dict[str, str] = {}


def labels(*models_: type[models.Model]) -> tuple[str, ...]:
    return tuple(model._meta.label for model in models_)


def register_export(
    *, position: int, labels: Iterable[str], build: Callable[[Context], Section]
) -> None:
    """A section of the export, covering the rows of ``labels``; registering again is a no-op."""
    part = ExportPart(position=position, labels=tuple(labels), build=build)
    if part not in _export:
        _export.append(part)


def register_summary(
    *, position: int, key: str, build: Callable[[Context], Any], schema: serializers.Field
) -> None:
    """A key of the summary, built by ``build`` and documented by ``schema``."""
    part = SummaryPart(position=position, key=key, build=build, schema=schema)
    if all(existing.key != key for existing in _summary):
        _summary.append(part)


def register_erasure(*, position: int, step: ErasureStep) -> None:
    """A step of account deletion (``step(user=…)``), run before the account row goes."""
    if all(existing is not step for _, existing in _erasure):
        _erasure.append((position, step))


def register_excluded(label: str, reason: str) -> None:
    """A model that holds something about a user and stays out of the export, and why."""
    _excluded.setdefault(label, reason)


def register_retained(label: str, reason: str) -> None:
    """A model whose rows may still name a deleted user, and why."""
    _retained.setdefault(label, reason)


def export_parts() -> list[ExportPart]:
    return sorted(_export, key=lambda part: part.position)


def summary_parts() -> list[SummaryPart]:
    return sorted(_summary, key=lambda part: part.position)


def erasure_steps() -> list[ErasureStep]:
    return [step for _, step in sorted(_erasure, key=lambda item: item[0])]


def excluded() -> dict[str, str]:
    """Excluded models with their reasons, in registration order (the export lists them)."""
    return dict(_excluded)


def retained_after_deletion() -> dict[str, str]:
    return dict(_retained)


def covered_labels() -> set[str]:
    return {label for part in _export for label in part.labels}


# --- The walk ----------------------------------------------------------------------------------


def export_build(*, user: AbstractBaseUser, known: Mapping[str, Any] | None = None) -> Export:
    """The complete export of ``user``'s data and the rows it covers (no audit row).

    ``known``: values the parts would compute with ``ctx.once`` (by name), obtained beforehand,
    e.g. what another service answered, read before the caller opened its transaction.
    """
    ctx = Context(user)
    ctx._memo.update(known or {})
    document: dict[str, Any] = {
        "exportFormat": EXPORT_FORMAT,
        "exportedAt": ctx.now,
        "accountId": user.pk,
        "about": EXPORT_ABOUT,
    }
    covered: dict[str, set[str]] = {}
    sections: dict[str, list[str]] = {}
    for part in export_parts():
        section = part.build(ctx)
        document[section.key] = section.data
        for label in part.labels:
            covered.setdefault(label, set())
        for label, keys in section.records.items():
            covered.setdefault(label, set()).update(keys)
            sections.setdefault(label, []).append(section.key)
    document["coverage"] = {
        label: {"sections": sections.get(label, []), "records": len(keys)}
        for label, keys in sorted(covered.items())
    }
    document["notExported"] = excluded()
    return Export(document=document, covered=covered)


def summary_build(*, user: AbstractBaseUser) -> dict[str, Any]:
    """What is stored about ``user``, at a glance (no secrets, no audit row)."""
    ctx = Context(user)
    return {part.key: part.build(ctx) for part in summary_parts()}


def summary_serializer_class() -> type[serializers.Serializer]:
    """The summary's shape for OpenAPI, assembled from the registered parts."""
    # Copied in document order: DRF orders a serializer's fields by when they were made.
    declared = {part.key: copy.deepcopy(part.schema) for part in summary_parts()}
    return type("GdprSummaryOutputSerializer", (serializers.Serializer,), declared)


def erase(*, user: AbstractBaseUser) -> None:
    """Run every registered erasure step for ``user`` (inside the deletion's transaction)."""
    for step in erasure_steps():
        step(user=user)


# --- Generic export of an app's models (field by field, secrets skipped) -----------------------

# Model fields never exported generically, whatever the model (by name).
_SECRET_FIELD_MARKERS = (
    "password",
    "secret",
    "token",
    "cookie",
    "key_hash",
    "code_hash",
    "wrapped",
    "cipher",
    "seed",
    "private",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def record_name(model: type[models.Model]) -> str:
    """``PersonaAction`` → ``personaAction``."""
    return model.__name__[:1].lower() + model.__name__[1:]


def _is_secret_field(model_field: models.Field) -> bool:
    name = model_field.name.lower()
    if isinstance(model_field, models.BinaryField):
        return True
    if name == "iv" or name.endswith("_iv"):
        return True
    return any(marker in name for marker in _SECRET_FIELD_MARKERS)


def user_lookups(model: type[models.Model]) -> list[str]:
    """ORM paths from ``model`` to the user's primary key: its own foreign keys to the user,
    else one hop through a model that has one (``persona__user``)."""
    user_model = get_user_model()
    direct = [
        f.name
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model is user_model
    ]
    if direct or model is user_model:
        return direct
    hops: list[str] = []
    for f in model._meta.concrete_fields:
        target = f.related_model if f.is_relation else None
        if target is None or target is model:
            continue
        hops.extend(
            f"{f.name}__{g.name}"
            for g in target._meta.concrete_fields
            if g.is_relation and g.related_model is user_model
        )
    return hops


def rows_of(model: type[models.Model], user: AbstractBaseUser) -> models.QuerySet[Any]:
    lookups = user_lookups(model)
    if not lookups:
        return model._default_manager.none()
    condition = reduce(operator.or_, (Q(**{lookup: user.pk}) for lookup in lookups))
    return model._default_manager.filter(condition).order_by("pk")


def generic_record(obj: models.Model) -> dict[str, Any]:
    """Every non-secret field of a row, keyed by its camelCase name (relations as ``…Id``)."""
    record: dict[str, Any] = {}
    for model_field in obj._meta.concrete_fields:
        if _is_secret_field(model_field):
            continue
        key = _camel(model_field.name) + ("Id" if model_field.is_relation else "")
        record[key] = getattr(obj, model_field.attname)
    return record


def generic_models(app_label: str) -> list[type[models.Model]]:
    """The models of ``app_label`` that can hold a user's data, by name."""
    if not apps.is_installed(app_label):
        return []
    config = apps.get_app_config(app_label)
    return sorted(
        (model for model in config.get_models() if user_lookups(model)),
        key=lambda model: model.__name__,
    )


def generic_export(app_label: str, section_key: str) -> Callable[[Context], Section]:
    """An export part listing every user-related model of ``app_label`` field by field."""

    def build(ctx: Context) -> Section:
        data: dict[str, list[dict[str, Any]]] = {}
        section = Section(section_key, data)
        for model in generic_models(app_label):
            rows = list(rows_of(model, ctx.user))
            data[record_name(model)] = [generic_record(row) for row in rows]
            section.add(model._meta.label, (row.pk for row in rows))
        return section

    return build
