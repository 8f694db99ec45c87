"""Space credentials: write-only secrets sealed under the KEK with the Space id as associated
data; only the internal endpoint (service key) reads a value, and that read is audited."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from mana_auth.clientip import RequestMeta
from mana_auth.errors import (
    Conflict,
)
from mana_auth.kek.crypto import associated_data
from mana_auth.kek.keyring import active_kek_id, open_sealed, reseal, seal
from security.models import EventType
from spaces import selectors
from spaces.models import (
    SpaceCredential,
    SpaceRole,
)
from spaces.services.base import constraint_name, membership_lock, role_require, space_event

CREDENTIAL_VALUE_MAX_CHARS = 8192


def _credential_aad(space_id: object) -> bytes:
    return associated_data("space-credential", space_id)


@transaction.atomic
def credential_create(
    *,
    user: User,
    space_id: object,
    kind: str,
    name: str,
    value: str,
    meta: RequestMeta,
) -> SpaceCredential:
    """Store a secret for the Space's services, sealed under the KEK; never shown again."""
    membership = membership_lock(user=user, space_id=space_id)
    role_require(membership, SpaceRole.OWNER)
    space = membership.space
    sealed = seal(value.encode(), aad=_credential_aad(space.id))
    credential = SpaceCredential(
        space=space,
        kind=kind,
        name=name.strip(),
        ciphertext=sealed.ciphertext,
        iv=sealed.iv,
        kek_id=sealed.kek_id,
        created_by=user,
    )
    try:
        with transaction.atomic():
            credential.save(force_insert=True)
    except IntegrityError as exc:
        if constraint_name(exc) == "spaces_credential_name_unique":
            raise Conflict("A credential with this name exists.") from exc
        raise
    space_event(
        EventType.SPACE_CREDENTIAL_CREATED,
        user=user,
        meta=meta,
        spaceId=space.id,
        credentialId=credential.id,
        credentialKind=kind,
    )
    return credential


@transaction.atomic
def credential_delete(
    *, user: User, space_id: object, credential_id: object, meta: RequestMeta
) -> None:
    membership = membership_lock(user=user, space_id=space_id)
    role_require(membership, SpaceRole.OWNER)
    credential = selectors.credential_get(space=membership.space, credential_id=credential_id)
    space_event(
        EventType.SPACE_CREDENTIAL_DELETED,
        user=user,
        meta=meta,
        spaceId=membership.space.id,
        credentialId=credential.id,
        credentialKind=credential.kind,
    )
    credential.delete()


@transaction.atomic
def credential_reveal(
    *, space_id: object, credential_id: object, meta: RequestMeta
) -> tuple[SpaceCredential, str]:
    """For another service (service key): the decrypted value, with an audit row."""
    space = selectors.space_get_any(space_id=space_id)
    credential = selectors.credential_get(space=space, credential_id=credential_id)
    value = open_sealed(
        ciphertext=bytes(credential.ciphertext),
        iv=bytes(credential.iv),
        kek_id=credential.kek_id,
        aad=_credential_aad(space.id),
    ).decode()
    space_event(
        EventType.SPACE_CREDENTIAL_READ,
        user=None,
        meta=meta,
        spaceId=space.id,
        credentialId=credential.id,
        credentialKind=credential.kind,
    )
    return credential, value


def space_credentials_rewrap(batch_size: int = 100) -> tuple[int, int]:
    """Re-seal credentials still under a retired KEK with the active one (``rewrap_vaults``).

    Returns ``(rewrapped, total)``: how many were re-sealed, and how many credentials exist.
    Each batch is its own transaction with its rows locked; rows already under the active KEK
    are left alone, so an interrupted run can simply be run again.
    """
    active_id = active_kek_id()
    total = SpaceCredential.objects.count()
    stale = SpaceCredential.objects.exclude(kek_id=active_id).order_by("id")
    rewrapped = 0
    while True:
        with transaction.atomic():
            batch = list(stale.select_for_update(skip_locked=True)[:batch_size])
            for credential in batch:
                sealed = reseal(
                    ciphertext=bytes(credential.ciphertext),
                    iv=bytes(credential.iv),
                    kek_id=credential.kek_id,
                    aad=_credential_aad(credential.space_id),
                )
                SpaceCredential.objects.filter(id=credential.id).update(
                    ciphertext=sealed.ciphertext, iv=sealed.iv, kek_id=sealed.kek_id
                )
        if not batch:
            return rewrapped, total
        rewrapped += len(batch)
