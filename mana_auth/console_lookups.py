"""What the operators' console refuses to filter on: secret columns.

Django's ``ModelAdmin.lookup_allowed`` lets a changelist filter on any local field named in
the query string. On a secret column that is an oracle: ``?password__startswith=argon2$…``
answers "one row" or "none", and a prefix extended a character at a time reads the whole hash
out. Every console ``ModelAdmin`` derives from ``ConsoleModelAdmin`` (or mixes in
``SecretLookupsRefused``), whose ``lookup_allowed`` refuses a lookup that reaches a secret
column anywhere along its path (``password``, ``user__password``, ``codes__code_hash`` …);
Django answers that with 400 (``DisallowedModelAdminLookup``).

A column is secret by its name: the password hash, token/code/key hashes, sealed seeds and
ciphertexts, wrapped keys and their IVs. ``tests/foundation/test_console_lookups.py`` walks
every registered admin and every model field, so a new secret column is caught by name.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

_SECRET_NAME = re.compile(
    r"^(password|secret|seed|key|public_key)$"
    r"|_hash$"
    r"|(^|_)(ciphertext|wrapped|private|secret|seed)(_|$)"
    r"|(^|_)iv$"
)


def is_secret_field_name(name: str) -> bool:
    """True for a column whose value (or any bit of it) an operator must never learn."""
    return bool(_SECRET_NAME.search(name))


def lookup_reaches_secret(model: type[models.Model], lookup: str) -> bool:
    """True when ``lookup`` (``user__password__startswith``) names a secret column anywhere
    along its path through ``model``'s relations."""
    current: Any = model
    for part in lookup.split(LOOKUP_SEP):
        if is_secret_field_name(part):
            return True
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or lookup name, or no field at all
        if not getattr(field, "path_infos", None):
            return False  # a plain column: what follows are transforms and lookups
        current = field.path_infos[-1].to_opts.model
    return False


class SecretLookupsRefused:
    """A ``ModelAdmin`` mixin: no changelist filter on a secret column (400)."""

    model: type[models.Model]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if lookup_reaches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]


class ConsoleModelAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """The base of every ``ModelAdmin`` in the operators' console."""
