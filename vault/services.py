"""Writes of the vault: init, fetch, rotate, recovery wrap, zero-knowledge, mission grants,
and the re-wrapping of master keys after a KEK rotation.

Every action runs in the owner's row-level-security scope (``vault.rls.vault_scope``) and
leaves exactly one ``VaultAudit`` row, failures included: a success in the same transaction
as its change, a failure in a transaction of its own after the change rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Session, User
from accounts.reauth import reauth_require
from mana_auth.clientip import RequestMeta
from mana_auth.errors import ValidationFailed, classify
from mana_auth.kek.crypto import UnwrapError, associated_data, wipe
from mana_auth.kek.keyring import active_kek_id, open_sealed, reseal, seal
from security import ratelimit
from security.models import EventType
from security.services import security_event_record
from vault import grants
from vault.crypto import MASTER_KEY_BYTES, generate_master_key
from vault.exceptions import (
    GrantNotConfigured,
    RecoveryWrapMissing,
    VaultNotFound,
    VaultUnreadable,
    ZeroKnowledgeActive,
    ZeroKnowledgeRotateForbidden,
)
from vault.models import FORMAT_VERSION, Vault, VaultAction, VaultAudit
from vault.rls import scope_set, scope_user_id, vault_scope
from vault.selectors import VaultStatus

logger = logging.getLogger("mana_auth.vault")

# Rotation and the zero-knowledge toggle check a password: bound how often one account can try.
SENSITIVE_USER = ratelimit.Limit("vault-sensitive-user", 10, 300)
GRANT_USER = ratelimit.Limit("vault-grant-user", 120, 3600)


@dataclass(frozen=True)
class VaultKey:
    """What init, fetch and rotate hand out: the master key in standard mode, the client's
    recovery blob in zero-knowledge mode (the server cannot open it)."""

    format_version: int
    master_key: bytes | None = field(default=None, repr=False)
    kek_id: str = ""
    recovery_wrapped_mk: str | None = field(default=None, repr=False)
    recovery_iv: str | None = None

    @property
    def requires_recovery_code(self) -> bool:
        return self.master_key is None


def _aad(user_id: object) -> bytes:
    return associated_data("vault-mk", scope_user_id(user_id))


def _audit_write(
    *, user_id: object, action: str, meta: RequestMeta, status: int, context: dict[str, Any]
) -> None:
    VaultAudit.objects.create(
        user_id=user_id,
        action=action,
        status=status,
        ip_address=meta.ip,
        user_agent=meta.user_agent,
        context=context,
    )


@contextmanager
def _vault_action(
    *,
    user: User,
    action: str,
    meta: RequestMeta,
    limit: ratelimit.Limit | None = None,
    reauth: bool = False,
    session: Session | None = None,
    password: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Run one audited action in the user's scope; the body fills in the audit context.

    ``limit`` (per account) and ``reauth`` are checked first, outside the scope's transaction
    (a wrong password's count must outlive the refusal); a refusal is audited like any failure.
    """
    context: dict[str, Any] = {}
    try:
        if limit is not None:
            # durable like ``_sensitive``'s count of the same limit (one key, one connection)
            ratelimit.hit(limit, str(user.pk), durable=True)
        if reauth:
            reauth_require(user=user, session=session, password=password)
        with vault_scope(user.pk):
            yield context
            _audit_write(user_id=user.pk, action=action, meta=meta, status=200, context=context)
    except Exception as exc:
        error = classify(exc)
        # With the database gone there is nowhere to write; the original error is what matters.
        if error.code != "SERVICE_UNAVAILABLE":
            with vault_scope(user.pk):
                _audit_write(
                    user_id=user.pk,
                    action=action,
                    meta=meta,
                    status=error.status or 500,
                    context={**context, "code": error.code},
                )
        raise


def _sensitive(*, user: User, session: Session | None, password: str | None) -> None:
    """A destructive action: bounded per account, and only with a fresh sign-in or the
    password (``accounts.reauth``). Counted ``durable``: the recovery wrap in zero-knowledge mode
    checks inside its transaction, which a refusal rolls back."""
    ratelimit.hit(SENSITIVE_USER, str(user.pk), durable=True)
    reauth_require(user=user, session=session, password=password)


def _vault(user: User, *, for_update: bool = False) -> Vault:
    rows = Vault.objects.filter(user_id=user.pk)
    vault = (rows.select_for_update() if for_update else rows).first()
    if vault is None:
        raise VaultNotFound()
    return vault


def _unwrap(vault: Vault) -> bytes:
    try:
        return open_sealed(
            ciphertext=bytes(vault.wrapped_mk),
            iv=bytes(vault.wrap_iv),
            kek_id=vault.kek_id,
            aad=_aad(vault.user_id),
        )
    except UnwrapError as exc:
        logger.error("vault of user %s does not open (kek %s)", vault.user_id, vault.kek_id)
        raise VaultUnreadable() from exc


def _key_of(vault: Vault) -> VaultKey:
    if vault.zero_knowledge:
        return VaultKey(
            format_version=vault.recovery_format_version,
            recovery_wrapped_mk=vault.recovery_wrapped_mk,
            recovery_iv=vault.recovery_iv,
        )
    return VaultKey(
        format_version=vault.format_version, master_key=_unwrap(vault), kek_id=vault.kek_id
    )


def _mode(vault: Vault) -> str:
    return "zk-recovery-blob" if vault.zero_knowledge else "standard"


def vault_init(*, user: User, meta: RequestMeta) -> VaultKey:
    """Return the user's vault key, minting and wrapping a fresh master key on first call."""
    with _vault_action(user=user, action=VaultAction.INIT, meta=meta) as context:
        vault = Vault.objects.filter(user_id=user.pk).first()
        if vault is not None:
            context.update(created=False, mode=_mode(vault))
            return _key_of(vault)
        master_key = generate_master_key()
        try:
            wrapped = seal(master_key, aad=_aad(user.pk))
            vault, created = Vault.objects.get_or_create(
                user_id=user.pk,
                defaults={
                    "wrapped_mk": wrapped.ciphertext,
                    "wrap_iv": wrapped.iv,
                    "kek_id": wrapped.kek_id,
                    "format_version": FORMAT_VERSION,
                },
            )
            context.update(created=created, mode=_mode(vault))
            if not created:  # a concurrent init won the race: theirs is the key
                return _key_of(vault)
            security_event_record(type=EventType.VAULT_CREATED, user=user, meta=meta)
            return VaultKey(
                format_version=FORMAT_VERSION, master_key=bytes(master_key), kek_id=wrapped.kek_id
            )
        finally:
            wipe(master_key)


def vault_key_get(*, user: User, meta: RequestMeta) -> VaultKey:
    """The hot path: the unwrapped master key, or the recovery blob in zero-knowledge mode."""
    with _vault_action(user=user, action=VaultAction.FETCH, meta=meta) as context:
        vault = _vault(user)
        context["mode"] = _mode(vault)
        return _key_of(vault)


def vault_rotate(
    *, user: User, meta: RequestMeta, session: Session | None, password: str | None
) -> VaultKey:
    """Replace the master key. Destructive: data under the old key is the caller's to re-encrypt.

    A recovery wrap of the old key would open to a key nothing uses any more; it is wiped.
    """
    with _vault_action(
        user=user,
        action=VaultAction.ROTATE,
        meta=meta,
        limit=SENSITIVE_USER,
        reauth=True,
        session=session,
        password=password,
    ) as context:
        vault = _vault(user, for_update=True)
        if vault.zero_knowledge:
            raise ZeroKnowledgeRotateForbidden()
        master_key = generate_master_key()
        try:
            wrapped = seal(master_key, aad=_aad(user.pk))
            cleared = vault.has_recovery_wrap
            vault.wrapped_mk, vault.wrap_iv, vault.kek_id = (
                wrapped.ciphertext,
                wrapped.iv,
                wrapped.kek_id,
            )
            vault.format_version = FORMAT_VERSION
            vault.rotated_at = timezone.now()
            vault.recovery_wrapped_mk = vault.recovery_iv = vault.recovery_set_at = None
            vault.save()
            context["recoveryWrapCleared"] = cleared
            security_event_record(
                type=EventType.VAULT_ROTATED,
                user=user,
                meta=meta,
                metadata={"recoveryWrapCleared": cleared},
            )
            return VaultKey(
                format_version=FORMAT_VERSION, master_key=bytes(master_key), kek_id=wrapped.kek_id
            )
        finally:
            wipe(master_key)


def recovery_wrap_set(
    *,
    user: User,
    recovery_wrapped_mk: str,
    recovery_iv: str,
    meta: RequestMeta,
    session: Session | None,
    password: str | None,
) -> VaultStatus:
    """Store (or replace) the client-built recovery wrap. The recovery secret never reaches
    the server; the wrap is stored verbatim and never opened here.

    In zero-knowledge mode the recovery wrap is the only copy of the key: replacing it is as
    destructive as a rotation and needs re-authentication (a stolen token must not be able to
    overwrite it with junk)."""
    with _vault_action(user=user, action=VaultAction.RECOVERY_SET, meta=meta) as context:
        vault = _vault(user, for_update=True)
        if vault.zero_knowledge:
            _sensitive(user=user, session=session, password=password)
        replaced = vault.has_recovery_wrap
        vault.recovery_wrapped_mk = recovery_wrapped_mk
        vault.recovery_iv = recovery_iv
        vault.recovery_format_version = FORMAT_VERSION
        vault.recovery_set_at = timezone.now()
        vault.save()
        context["replaced"] = replaced
        security_event_record(
            type=EventType.VAULT_RECOVERY_WRAP_SET,
            user=user,
            meta=meta,
            metadata={"replaced": replaced},
        )
        return VaultStatus.of(vault)


def recovery_wrap_clear(*, user: User, meta: RequestMeta) -> VaultStatus:
    """Remove the recovery wrap; refused in zero-knowledge mode, where it is the only wrap."""
    with _vault_action(user=user, action=VaultAction.RECOVERY_CLEAR, meta=meta) as context:
        vault = _vault(user, for_update=True)
        if vault.zero_knowledge:
            raise ZeroKnowledgeActive()
        context["changed"] = vault.has_recovery_wrap
        if vault.has_recovery_wrap:
            vault.recovery_wrapped_mk = vault.recovery_iv = vault.recovery_set_at = None
            vault.save()
            security_event_record(type=EventType.VAULT_RECOVERY_WRAP_CLEARED, user=user, meta=meta)
        return VaultStatus.of(vault)


def zero_knowledge_enable(
    *, user: User, meta: RequestMeta, session: Session | None, password: str | None
) -> VaultStatus:
    """Drop the server wrap: from now on only the user's recovery wrap opens the master key."""
    with _vault_action(
        user=user,
        action=VaultAction.ZK_ENABLE,
        meta=meta,
        limit=SENSITIVE_USER,
        reauth=True,
        session=session,
        password=password,
    ) as context:
        vault = _vault(user, for_update=True)
        context["changed"] = not vault.zero_knowledge
        if vault.zero_knowledge:
            return VaultStatus.of(vault)
        if not vault.has_recovery_wrap:
            raise RecoveryWrapMissing()
        vault.wrapped_mk = vault.wrap_iv = None
        vault.kek_id = ""
        vault.zero_knowledge = True
        vault.save()
        security_event_record(type=EventType.VAULT_ZERO_KNOWLEDGE_ENABLED, user=user, meta=meta)
        return VaultStatus.of(vault)


def zero_knowledge_disable(
    *,
    user: User,
    master_key: bytearray,
    meta: RequestMeta,
    session: Session | None,
    password: str | None,
) -> VaultStatus:
    """Take the master key the client just unwrapped with its recovery code, wrap it under the
    KEK again and leave zero-knowledge mode. ``master_key`` is wiped before this returns."""
    try:
        with _vault_action(
            user=user,
            action=VaultAction.ZK_DISABLE,
            meta=meta,
            limit=SENSITIVE_USER,
            reauth=True,
            session=session,
            password=password,
        ) as context:
            if len(master_key) != MASTER_KEY_BYTES:
                raise ValidationFailed({"masterKey": ["The master key must be 32 bytes."]})
            vault = _vault(user, for_update=True)
            context["changed"] = vault.zero_knowledge
            if not vault.zero_knowledge:
                return VaultStatus.of(vault)
            wrapped = seal(master_key, aad=_aad(user.pk))
            vault.wrapped_mk, vault.wrap_iv, vault.kek_id = (
                wrapped.ciphertext,
                wrapped.iv,
                wrapped.kek_id,
            )
            vault.format_version = FORMAT_VERSION
            vault.zero_knowledge = False
            vault.save()
            security_event_record(
                type=EventType.VAULT_ZERO_KNOWLEDGE_DISABLED, user=user, meta=meta
            )
            return VaultStatus.of(vault)
    finally:
        wipe(master_key)


def vault_discard_on_claim(*, user: User, meta: RequestMeta) -> dict[str, Any]:
    """An address claim (``accounts.hooks.on_address_claimed``): the vault a stranger set up
    on an account that was never verified goes, master key and recovery wrap; the owner starts
    a fresh one. Its audit trail stays (append-only), with one ``discard`` row."""
    with vault_scope(user.pk):
        deleted, _ = Vault.objects.filter(user_id=user.pk).delete()
        if deleted:
            _audit_write(
                user_id=user.pk,
                action=VaultAction.DISCARD,
                meta=meta,
                status=200,
                context={"reason": "address_claimed"},
            )
    return {"vaultDeleted": bool(deleted)}


def _grant_public_key() -> Any:
    pem = settings.MANA_AI_PUBLIC_KEY_PEM
    if not pem:
        raise GrantNotConfigured()
    try:
        return grants.load_public_key(pem)
    except grants.GrantKeyError as exc:
        # A configuration state, said once at boot (``vault.apps``); the refusal is logged
        # at INFO by the error handler, never at ERROR (no Sentry noise).
        raise GrantNotConfigured() from exc


def mission_grant_issue(
    *,
    user: User,
    mission_id: str,
    ttl_seconds: int | None,
    meta: RequestMeta,
    now: datetime | None = None,
) -> grants.MissionGrant:
    """Hand mana-ai one mission's data key, wrapped so only mana-ai opens it, until it expires.
    Impossible in zero-knowledge mode: the server does not hold the master key."""
    with _vault_action(
        user=user,
        action=VaultAction.GRANT,
        meta=meta,
        limit=GRANT_USER,
    ) as context:
        context["missionId"] = mission_id[: grants.MISSION_ID_MAX_LENGTH]
        if not grants.valid_mission_id(mission_id):
            raise ValidationFailed({"missionId": ["Not a valid mission id."]})
        public_key = _grant_public_key()
        vault = _vault(user)
        if vault.zero_knowledge:
            raise ZeroKnowledgeActive()
        master_key = bytearray(_unwrap(vault))
        try:
            grant = grants.issue_mission_grant(
                master_key=master_key,
                public_key=public_key,
                user_id=str(user.pk),
                mission_id=mission_id,
                ttl_seconds=ttl_seconds,
                now=now or timezone.now(),
                bind_context=settings.MISSION_GRANT_BIND_CONTEXT,
            )
        finally:
            wipe(master_key)
        context.update(ttlSeconds=grant.ttl_seconds, expiresAt=grant.expires_at.isoformat())
        security_event_record(
            type=EventType.MISSION_GRANT_ISSUED,
            user=user,
            meta=meta,
            metadata={"missionId": mission_id, "ttlSeconds": grant.ttl_seconds},
        )
        return grant


# --- Re-wrapping after a KEK rotation (see mana_auth.kek.rewrap) --------------------------------


def vault_master_keys_rewrap(batch_size: int) -> tuple[int, int]:
    """Re-wrap every server-held master key under the active KEK; returns (re-wrapped, total).

    The policies hide every row that is not the scoped user's, so this walks the users, one
    batch per transaction, scoping to each in turn. Resumable: a row already under the active
    KEK is counted and left alone, so a rerun after an interruption only does what is left.
    """
    active = active_kek_id()
    rewrapped = total = 0
    users = get_user_model().objects.order_by("pk")
    after = None
    while True:
        page = users.filter(pk__gt=after) if after is not None else users
        user_ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not user_ids:
            return rewrapped, total
        with transaction.atomic():
            for user_id in user_ids:
                scope_set(user_id)
                vault = (
                    Vault.objects.select_for_update()
                    .filter(user_id=user_id, wrapped_mk__isnull=False)
                    .first()
                )
                if vault is None:
                    continue
                total += 1
                if vault.kek_id != active:
                    wrapped = reseal(
                        ciphertext=bytes(vault.wrapped_mk),
                        iv=bytes(vault.wrap_iv),
                        kek_id=vault.kek_id,
                        aad=_aad(user_id),
                    )
                    Vault.objects.filter(user_id=user_id).update(
                        wrapped_mk=wrapped.ciphertext, wrap_iv=wrapped.iv, kek_id=wrapped.kek_id
                    )
                    rewrapped += 1
        after = user_ids[-1]
