"""Operator actions on accounts, shared by the Admin API (``/admin/users…``) and the Django
admin console.

Each is atomic, goes through the owning service, and writes an ``ADMIN_ACTION`` event (the
operator as its user, the target in its metadata) next to the domain event.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import gdpr, hooks
from accounts.api_keys import api_key_revoke
from accounts.deletion import user_data_delete
from accounts.emails import email_key
from accounts.models import ApiKey, Kind, Role, SigningKey, Tier, User
from accounts.sessions import sessions_revoke_all
from accounts.signing_keys import signing_key_rotate
from mana_auth.clientip import RequestMeta
from mana_auth.errors import Conflict, Forbidden, ValidationFailed
from security.models import EventType
from security.services import account_unlock, security_event_record


def _admin_action(
    *, actor: User, meta: RequestMeta | None, action: str, **metadata: object
) -> None:
    security_event_record(
        type=EventType.ADMIN_ACTION,
        user=actor,
        meta=meta,
        metadata={"action": action, **metadata},
    )


@transaction.atomic
def user_tier_set(*, user: User, tier: str, actor: User, meta: RequestMeta | None = None) -> User:
    """Set the account's tier and its personal Space's; the next access token carries it."""
    if tier not in Tier.values:
        raise ValidationFailed({"tier": [f"Must be one of {', '.join(Tier.values)}."]})
    locked = User.objects.select_for_update().get(pk=user.pk)
    previous = locked.access_tier
    if previous == tier:
        return locked
    locked.access_tier = tier
    locked.save(update_fields=["access_tier", "updated_at"])
    hooks.user_tier_changed(user=locked)  # the personal Space's tier (spaces)
    security_event_record(
        type=EventType.TIER_CHANGED,
        user=locked,
        meta=meta,
        metadata={"from": previous, "to": tier, "byAdmin": True},
    )
    _admin_action(
        actor=actor,
        meta=meta,
        action="tier_set",
        targetUserId=str(locked.id),
        **{"from": previous, "to": tier},
    )
    return locked


def user_unlock(*, user: User, actor: User, meta: RequestMeta | None = None) -> int:
    """Clear the account's password lock (``account_unlock`` writes both events)."""
    return account_unlock(user=user, email_key=email_key(user.email), actor=actor, meta=meta)


def _operators() -> QuerySet[User]:
    """Accounts with operator rights: active with role ``admin`` (the role is the source of
    truth, as for the Admin API's ``IsAdminRole``). The console also wants the staff flag
    (``is_operator``), which grant and revoke always set together with the role."""
    return User.objects.filter(role=Role.ADMIN, is_active=True)


def _operators_locked() -> list[Any]:
    """Lock every operator row (in one order, so concurrent callers queue instead of
    deadlocking) and return their ids, read after the lock: the actor is checked, and the last
    operator counted, against what is true now, not against what the request loaded."""
    return list(_operators().select_for_update().order_by("pk").values_list("pk", flat=True))


def is_operator(user: User) -> bool:
    """May run the console: an operator (role admin, active) with the staff flag Django's
    admin needs."""
    return user.is_active and user.is_staff and user.role == Role.ADMIN


@transaction.atomic
def user_operator_grant(*, user: User, actor: User, meta: RequestMeta | None = None) -> bool:
    """Make ``user`` an operator: the ``admin`` role (the Admin API) and the staff and
    superuser flags (the console, whose models are all an operator's). False when it was one.

    Only an operator grants; only an active human account whose address was verified
    receives (a persona or a system account never runs the console; an unproven address may
    belong to whoever signed up with it first, not to the person meant). The console still
    wants the new operator's authenticator
    (``manage.py enroll_admin_totp``) before it lets them in.
    """
    if actor.pk not in _operators_locked():
        raise Forbidden("Only an operator (role admin) can grant operator access.")
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.kind != Kind.HUMAN or not locked.is_active:
        raise Conflict("Only an active human account can become an operator.")
    if not locked.email_verified:
        raise Conflict(
            "This account's email address is not verified: operator access needs a verified "
            "address (the owner confirms it first)."
        )
    if locked.role == Role.ADMIN and locked.is_staff and locked.is_superuser:
        return False
    previous = {"role": locked.role, "isStaff": locked.is_staff}
    locked.role = Role.ADMIN
    locked.is_staff = locked.is_superuser = True
    locked.save(update_fields=["role", "is_staff", "is_superuser", "updated_at"])
    security_event_record(
        type=EventType.ROLE_CHANGED,
        user=locked,
        meta=meta,
        metadata={"from": previous, "to": {"role": Role.ADMIN, "isStaff": True}, "byAdmin": True},
    )
    _admin_action(actor=actor, meta=meta, action="operator_grant", targetUserId=str(locked.id))
    return True


@transaction.atomic
def user_operator_revoke(*, user: User, actor: User, meta: RequestMeta | None = None) -> bool:
    """Take operator access away: role ``user``, neither staff nor superuser, and every
    session of the account ends (``SESSION_REVOKED``, reason ``operator_revoked``) in the same
    transaction: its access tokens carry ``role: admin``, which the Mana apps read, so they stop
    validating at once (on every worker: the revocation markers) and their refresh tokens stop
    working. False when the account was no operator.

    Refuses to remove the last operator (CONFLICT): with none left, no one could ever grant
    the role again except from a shell. Every operator row is locked first, so two operators
    demoting each other at once cannot both succeed.
    """
    operator_ids = _operators_locked()
    if actor.pk not in operator_ids:
        raise Forbidden("Only an operator (role admin) can take operator access away.")
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.role != Role.ADMIN and not locked.is_staff and not locked.is_superuser:
        return False
    if not any(pk != locked.pk for pk in operator_ids):
        raise Conflict("This is the last operator: grant someone else operator access first.")
    previous = {"role": locked.role, "isStaff": locked.is_staff}
    locked.role = Role.USER
    locked.is_staff = locked.is_superuser = False
    locked.save(update_fields=["role", "is_staff", "is_superuser", "updated_at"])
    security_event_record(
        type=EventType.ROLE_CHANGED,
        user=locked,
        meta=meta,
        metadata={"from": previous, "to": {"role": Role.USER, "isStaff": False}, "byAdmin": True},
    )
    sessions_revoke_all(user=locked, meta=meta or RequestMeta(), reason="operator_revoked")
    _admin_action(actor=actor, meta=meta, action="operator_revoke", targetUserId=str(locked.id))
    return True


@transaction.atomic
def user_sessions_revoke(*, user: User, actor: User, meta: RequestMeta | None = None) -> int:
    """End every session of the account: its refresh tokens stop working at once and its
    access tokens at their next check."""
    revoked = sessions_revoke_all(user=user, meta=meta or RequestMeta(), reason="admin")
    _admin_action(
        actor=actor,
        meta=meta,
        action="sessions_revoke",
        targetUserId=str(user.id),
        count=revoked,
    )
    return revoked


@transaction.atomic
def user_mark_verified(*, user: User, actor: User, meta: RequestMeta | None = None) -> bool:
    """Mark the address verified (an operator confirmed it another way); False if it was."""
    updated = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
        email_verified_at=timezone.now(), updated_at=timezone.now()
    )
    if not updated:
        return False
    security_event_record(
        type=EventType.EMAIL_VERIFIED, user=user, meta=meta, metadata={"byAdmin": True}
    )
    _admin_action(actor=actor, meta=meta, action="mark_verified", targetUserId=str(user.id))
    return True


@transaction.atomic
def api_key_revoke_by_admin(
    *, api_key: ApiKey, actor: User, meta: RequestMeta | None = None
) -> bool:
    """Revoke someone's API key; False when it already was."""
    if api_key.revoked_at is not None:
        return False
    api_key_revoke(api_key=api_key, meta=meta or RequestMeta(), actor=actor)
    _admin_action(
        actor=actor,
        meta=meta,
        action="api_key_revoke",
        targetUserId=str(api_key.user_id),
        apiKeyId=str(api_key.id),
    )
    return True


@transaction.atomic
def signing_key_rotate_by_admin(*, actor: User, meta: RequestMeta | None = None) -> SigningKey:
    """Retire the active JWT signing key and create a new one (the old one stays published
    until the tokens it signed expire)."""
    key = signing_key_rotate()
    _admin_action(actor=actor, meta=meta, action="signing_key_rotate", kid=key.kid)
    return key


def admin_user_data_view(
    *, user: User, actor: User | None = None, meta: RequestMeta | None = None
) -> dict[str, Any]:
    """The summary of ``user``'s data for an operator (``GET /admin/users/{id}/data``).

    With ``actor``, the look is recorded as an ADMIN_ACTION on the operator's trail.
    """
    if actor is not None:
        _admin_action(actor=actor, meta=meta, action="user_data_view", targetUserId=str(user.pk))
    return gdpr.user_data_summary(user=user)


@transaction.atomic
def admin_user_data_delete(*, user: User, actor: User, meta: RequestMeta) -> None:
    """Delete ``user`` and everything of it for an operator (``DELETE /admin/users/{id}/data``).

    An operator's own account goes through ``DELETE /me/data`` (with the password) instead.
    """
    if actor.pk == user.pk:
        raise Conflict("Delete your own account with DELETE /api/v1/me/data.")
    user_id = str(user.pk)
    user_data_delete(user=user, meta=meta, actor=actor)
    _admin_action(actor=actor, meta=meta, action="user_data_delete", targetUserId=user_id)
