"""The sync store's singletons of a user and their Spaces: inserted after commit, best effort
(``POST /me/bootstrap-singletons`` reconciles)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction

from accounts.models import User
from mana_auth.after_response import after_response
from mana_auth.errors import (
    ServiceUnavailable,
    is_infrastructure_error,
)
from spaces import selectors, singletons
from spaces.models import (
    Membership,
)

logger = logging.getLogger("mana_auth.spaces")


def _bootstrap_best_effort(*, user_id: str, space_ids: list[str], user_context: bool) -> None:
    """Insert singletons; a sync-store outage is logged and skipped (the boot-time endpoint
    reconciles later). Anything else is a bug and propagates."""
    try:
        if user_context:
            singletons.user_context_bootstrap(user_id=user_id)
        for space_id in space_ids:
            singletons.kontext_doc_bootstrap(space_id=space_id, writer_user_id=user_id)
    except DatabaseError as exc:
        if not is_infrastructure_error(exc):
            raise
        logger.error(
            "sync-store singleton bootstrap failed (%s); POST /me/bootstrap-singletons will "
            "reconcile",
            type(exc).__name__,
        )


def singletons_bootstrap_after_commit(
    *, space_ids: list[str], user_id: str, user_context: bool
) -> None:
    # After the main transaction commits: the sync store never holds rows for an account or
    # Space that was rolled back, and its failure cannot touch the committed sign-up.
    # In a web request, after the response has been sent: a sign-up for a new address must
    # not answer slower than one for a known address (``mana_auth.after_response``).
    # ``robust``: an unexpected error is logged by Django instead of failing the response.
    transaction.on_commit(
        lambda: after_response(
            lambda: _bootstrap_best_effort(
                user_id=user_id, space_ids=space_ids, user_context=user_context
            )
        ),
        robust=True,
    )


def sync_singletons_bootstrap_for_signup(*, user: User) -> None:
    """Insert the user's sync-store singletons; never aborts sign-up."""
    personal = selectors.personal_space_for(user=user)
    singletons_bootstrap_after_commit(
        space_ids=[str(personal.id)] if personal is not None else [],
        user_id=str(user.id),
        user_context=True,
    )


def singletons_bootstrap_for_user(*, user: User) -> dict[str, Any]:
    """Reconcile the caller's singletons now: their ``userContext`` and the ``kontextDoc`` of
    every Space they belong to. Reports what was inserted (false = already there)."""
    try:
        user_context = singletons.user_context_bootstrap(user_id=str(user.id))
    except DatabaseError as exc:
        if is_infrastructure_error(exc):
            raise ServiceUnavailable() from exc
        raise
    spaces: dict[str, bool] = {}
    ok = True
    space_ids = Membership.objects.filter(user=user).order_by("created_at")
    for space_id in space_ids.values_list("space_id", flat=True):
        try:
            spaces[str(space_id)] = singletons.kontext_doc_bootstrap(
                space_id=str(space_id), writer_user_id=str(user.id)
            )
        except DatabaseError as exc:
            if not is_infrastructure_error(exc):
                raise
            logger.error("kontextDoc bootstrap failed for a Space: %s", type(exc).__name__)
            spaces[str(space_id)] = False
            ok = False
    return {"ok": ok, "bootstrapped": {"userContext": user_context, "spaces": spaces}}
