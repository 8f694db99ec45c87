"""Take over from the predecessor: bring its users, factors, Spaces, keys, vaults and personas
into this service, without a password reset and without re-issuing anything.

``predecessor_import`` reads the predecessor through ``predecessor.source.Source`` (one
read-only snapshot) and writes here through this service's models and public services. Each
source table is a step, each batch of rows one transaction; every row that becomes something
here is recorded in ``ImportedRecord``. So a second run skips what the first brought over
(and says so), an interrupted run resumes where it stopped, and rows added at the
predecessor since (the stragglers) are picked up by running it again. A dry run does all the
work in a transaction that is rolled back.

What is deliberately left behind: sessions and verification tokens (everyone signs in once
more, with the same password), and the predecessor's JWT signing keys (this service signs with
its own). Nothing here sends mail.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from webauthn.helpers import decode_credential_public_key
from webauthn.helpers.exceptions import WebAuthnException

from accounts.api_keys import LEGACY_KEY_PREFIXES, SCOPES, better_auth_key_hash
from accounts.crypto import hash_token
from accounts.emails import normalize_email
from accounts.hashers import BetterAuthScryptPasswordHasher, better_auth_hash_to_django
from accounts.models import ApiKey, ApiKeyHashFormat, Kind, Locale, Passkey, Role, Tier, User
from accounts.passkeys.ceremony import MAX_CREDENTIAL_ID_BYTES, b64url, transports_clean
from accounts.passkeys.services import DEFAULT_NAME as PASSKEY_DEFAULT_NAME
from personas.models import (
    ActionResult,
    Archetype,
    Persona,
    PersonaAction,
    PersonaFeedback,
    TickCadence,
)
from predecessor import formats
from predecessor.formats import FormatError, SourceSecrets
from predecessor.models import ImportedRecord
from predecessor.report import Report, TableReport
from predecessor.source import Source
from security.models import EventType
from security.otp import crypto as otp_crypto
from security.otp.models import BackupCode, BackupCodeDevice, SealedTotpDevice
from security.otp.services import BACKUP_DEVICE_NAME, TOTP_DEVICE_NAME
from security.services import security_event_record
from spaces import selectors as space_selectors
from spaces import slugs
from spaces.models import (
    PERSONAL_UNIQUE_CONSTRAINT,
    SLUG_UNIQUE_CONSTRAINT,
    Invitation,
    Membership,
    Space,
    SpaceRole,
    SpaceType,
)
from spaces.services import personal_space_ensure
from vault.crypto import associated_data, wipe
from vault.keyring import seal
from vault.models import FORMAT_VERSION, Vault, VaultAction, VaultAudit
from vault.rls import scope_set, vault_scope

logger = logging.getLogger("mana_auth.predecessor")

# Ids that are not UUIDs (Better Auth's default: 32 random characters) become UUIDv5 under
# this namespace, ``uuid5(NAMESPACE, "<table>:<id>")``: the same id on every run, and other
# services can derive the mapping too (it is also in ImportedRecord).
NAMESPACE = uuid.UUID("8f0c6d1e-7b1a-5c7e-9a43-2f6d0b5e1c11")
ROLE_RANK = (SpaceRole.OWNER, SpaceRole.ADMIN, SpaceRole.MEMBER)
SPACE_METADATA_MAX_BYTES = 16 * 1024
_API_KEY_HASH = re.compile(r"^[A-Za-z0-9_-]{43}$")  # unpadded base64url of 32 bytes
_ADVISORY_LOCK = 0x6D616E61  # "mana": one import at a time against this database
PREFLIGHT_SAMPLES = 20

Progress = Callable[[str, int, int], None]


class ImportRefused(Exception):
    """Bad input found before anything was written; the message tells the operator why."""


@dataclass(frozen=True)
class ImportOptions:
    secrets: SourceSecrets = field(default_factory=SourceSecrets)
    keks: tuple[bytes, ...] = field(default=(), repr=False)
    batch_size: int = 500
    dry_run: bool = False
    progress: Progress | None = None


class _DryRunRollback(Exception):
    pass


def target_uuid(table: str, source_id: str) -> uuid.UUID:
    """The id a predecessor row gets here: its own when it is a UUID, else a UUIDv5."""
    try:
        return uuid.UUID(str(source_id))
    except ValueError:
        return uuid.uuid5(NAMESPACE, f"{table}:{source_id}")


def _constraint(exc: IntegrityError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        name = getattr(getattr(cause, "diag", None), "constraint_name", None)
        if name:
            return str(name)
        cause = cause.__cause__ or cause.__context__
    return ""


def _now() -> datetime:
    return timezone.now()


# --- Preflight ----------------------------------------------------------------------------------


def predecessor_preflight(*, source: Source, options: ImportOptions) -> None:
    """Refuse before writing anything when a secret the import needs is missing or wrong."""
    if options.batch_size < 1:
        raise ImportRefused("--batch must be at least 1")
    two_factor = source.count("twoFactor")
    if two_factor and not options.secrets.configured:
        raise ImportRefused(
            f"the predecessor holds {two_factor} two-factor secret(s), encrypted with its auth "
            "secret: pass --source-secret-env NAME (the environment variable holding its "
            "BETTER_AUTH_SECRET), and --source-secrets-env NAME when it rotated secrets"
        )
    for sample in source.sample("twoFactor"):
        try:
            formats.symmetric_decrypt(sample["secret"], options.secrets)
        except FormatError as exc:
            raise ImportRefused(
                f"the secret given does not open the predecessor's two-factor secrets ({exc}): "
                "is it the predecessor's BETTER_AUTH_SECRET?"
            ) from exc
    # A wrong KEK opens none of them; one odd row among many is skipped and reported instead.
    wraps = source.sample("encryption_vaults", limit=PREFLIGHT_SAMPLES, where_not_null="wrappedMk")
    if wraps and not any(_opens(row, options.keks) for row in wraps):
        raise ImportRefused(
            f"none of the first {len(wraps)} vault wraps of the predecessor opens with the "
            "KEKs given: pass --source-kek-env NAME when its MANA_AUTH_KEK differs from this "
            "service's keys"
        )


def _opens(row: dict[str, Any], keks: tuple[bytes, ...]) -> bool:
    try:
        master_key = formats.vault_unwrap(
            wrapped_mk=row["wrappedMk"], wrap_iv=row.get("wrapIv") or "", keks=keks
        )
    except FormatError:
        return False
    wipe(bytearray(master_key))
    return True


# --- The run ------------------------------------------------------------------------------------


def predecessor_import(*, source: Source, options: ImportOptions) -> Report:
    """Import everything, table by table (see the module docstring); returns the report.

    Raises ``ImportRefused`` before any write when the input is unusable. Database failures
    propagate: the batches committed so far stay, and running again resumes.
    """
    predecessor_preflight(source=source, options=options)
    report = Report(dry_run=options.dry_run)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_LOCK])
        locked = cursor.fetchone()[0]
    if not locked:
        raise ImportRefused("another import_predecessor is running against this database")
    try:
        run = _Run(source=source, options=options, report=report)
        if options.dry_run:
            try:
                with transaction.atomic():
                    run.all()
                    raise _DryRunRollback
            except _DryRunRollback:
                pass
        else:
            run.all()
            with transaction.atomic():
                security_event_record(
                    type=EventType.ADMIN_ACTION,
                    user=None,
                    metadata={
                        "action": "predecessor_import",
                        "sourceDatabase": source.conn.info.dbname,
                        "sourceSchema": source.schema,
                        "changed": report.changed,
                        "summary": report.summary(),
                    },
                )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])
    return report


class _Run:
    def __init__(self, *, source: Source, options: ImportOptions, report: Report) -> None:
        self.source = source
        self.options = options
        self.report = report
        self.now = _now()

    # -- Plumbing ------------------------------------------------------------------------------

    def all(self) -> None:
        self.users()
        self.two_factor()
        self.passkeys()
        self.organizations()
        self.members()
        self.invitations()
        self.personal_spaces()
        self.api_keys()
        self.vaults()
        self.vault_audit()
        self.personas()
        self.persona_actions()
        self.persona_feedback()
        self.jwks()

    def batches(self, key: str) -> Iterable[tuple[TableReport, list[dict[str, Any]]]]:
        """The source rows of ``key`` a batch at a time, each batch in its own transaction."""
        table = self.report.table(key)
        if not self.source.has(key):
            self.report.absent(key)
            return
        total = self.source.count(key)
        done = 0
        for batch in self.source.rows(key, self.options.batch_size):
            with transaction.atomic():
                yield table, batch
            done += len(batch)
            if self.options.progress is not None:
                self.options.progress(key, done, total)

    @staticmethod
    def mapped(key: str, source_ids: Iterable[str]) -> dict[str, str]:
        ids = [str(s) for s in source_ids]
        rows = ImportedRecord.objects.filter(source_table=key, source_id__in=ids)
        return dict(rows.values_list("source_id", "target_id"))

    @staticmethod
    def record(key: str, source_id: str, target_id: object) -> None:
        ImportedRecord.objects.create(
            source_table=key, source_id=str(source_id), target_id=str(target_id)
        )

    def users_for(self, source_ids: Iterable[str]) -> dict[str, User]:
        """Imported users that still exist here, by their predecessor id."""
        targets = self.mapped("user", {s for s in source_ids if s})
        found = {str(u.pk): u for u in User.objects.filter(pk__in=list(targets.values()))}
        return {src: found[t] for src, t in targets.items() if t in found}

    def spaces_for(self, source_ids: Iterable[str]) -> dict[str, Space]:
        targets = self.mapped("organization", {s for s in source_ids if s})
        found = {str(s.pk): s for s in Space.objects.filter(pk__in=list(targets.values()))}
        return {src: found[t] for src, t in targets.items() if t in found}

    # -- Users and their passwords -------------------------------------------------------------

    def users(self) -> None:
        accounts = self.report.table("account")
        providers = self.source.account_providers()
        accounts.read = sum(providers.values())
        for provider, count in providers.items():
            if provider != "credential":
                for _ in range(count):
                    accounts.skip(
                        f"sign-in with {provider!r} is not offered here (the user is imported "
                        "and signs in with a magic link, a passkey or a new password)"
                    )
        for table, batch in self.batches("user"):
            ids = [row["id"] for row in batch]
            done = self.mapped("user", ids)
            passwords = self.source.credential_passwords(ids)
            for row in batch:
                table.read += 1
                stored = passwords.get(row["id"])
                if row["id"] in done:
                    self._user_again(table, accounts, row, done[row["id"]], stored)
                else:
                    self._user_new(table, accounts, row, stored)

    def _user_again(
        self,
        table: TableReport,
        accounts: TableReport,
        row: dict[str, Any],
        target: str,
        stored: str | None,
    ) -> None:
        """An imported user: refresh a password changed at the predecessor meanwhile, as long
        as it was never used here (the straggler run between the two)."""
        user = User.objects.filter(pk=target).first()
        if user is None:
            table.skip("deleted here after an earlier import; not brought back", row["id"])
            if stored is not None:
                accounts.skip("its user was deleted here", row["id"])
            return
        encoded = better_auth_hash_to_django(stored) if stored else None
        prefix = BetterAuthScryptPasswordHasher.algorithm + "$"
        if encoded and user.password.startswith(prefix) and user.password != encoded:
            User.objects.filter(pk=user.pk).update(password=encoded)
            table.updated += 1
            table.note("password changed at the predecessor since the last run", row["id"])
            accounts.updated += 1
            return
        table.unchanged += 1
        if stored is not None:
            accounts.unchanged += 1

    def _user_new(
        self, table: TableReport, accounts: TableReport, row: dict[str, Any], stored: str | None
    ) -> None:
        source_id = row["id"]
        address = normalize_email(row["email"] or "")
        local, _, domain = address.rpartition("@")
        if not local or not domain:
            table.skip("no usable email address", source_id)
            if stored is not None:
                accounts.skip("its user was skipped", source_id)
            return
        existing = User.objects.filter_email(address).first()
        if existing is not None:
            earlier = (
                ImportedRecord.objects.filter(source_table="user", target_id=str(existing.pk))
                .values_list("source_id", flat=True)
                .first()
            )
            if earlier is not None:
                table.skip(
                    "address collides, after normalisation, with another predecessor user "
                    "imported first",
                    f"{source_id} vs {earlier}",
                )
            else:
                table.skip("an account with this address exists here already", source_id)
            if stored is not None:
                accounts.skip("its user was skipped", source_id)
            return
        target_id = target_uuid("user", source_id)
        if User.objects.filter(pk=target_id).exists():
            table.skip("its id is taken here by another account", source_id)
            if stored is not None:
                accounts.skip("its user was skipped", source_id)
            return
        user = self._user_build(table, row, target_id, address)
        encoded = better_auth_hash_to_django(stored) if stored else None
        if encoded:
            user.password = encoded
        else:
            user.set_unusable_password()
            if stored:
                table.note(
                    "password hash not in Better Auth's scrypt format: the user signs in with "
                    "a magic link or a passkey, or sets a new password",
                    source_id,
                )
        try:
            with transaction.atomic():
                user.save(force_insert=True)
                self.record("user", source_id, user.pk)
        except IntegrityError:
            table.skip("its address or id was taken here meanwhile", source_id)
            return
        table.imported += 1
        if stored is not None:
            if encoded:
                accounts.imported += 1
            else:
                accounts.skip("password hash in an unknown format", source_id)

    def _user_build(
        self, table: TableReport, row: dict[str, Any], target_id: uuid.UUID, address: str
    ) -> User:
        source_id = row["id"]
        roles = {r.strip() for r in (row.get("role") or "").split(",") if r.strip()}
        if roles - {Role.USER, Role.ADMIN}:
            table.note("role unknown here: imported as user", source_id)
        tier = row.get("accessTier") or Tier.PUBLIC
        if tier not in Tier.values:
            table.note(f"tier {tier!r} unknown here: imported as public", source_id)
            tier = Tier.PUBLIC
        kind = row.get("kind") or Kind.HUMAN
        if kind not in Kind.values:
            table.note(f"kind {kind!r} unknown here: imported as human", source_id)
            kind = Kind.HUMAN
        image = (row.get("image") or "").strip()
        if image and (not image.startswith(("https://", "http://")) or len(image) > 2000):
            table.note("image is not a web address: left out", source_id)
            image = ""
        locale = row.get("locale") if row.get("locale") in Locale.values else Locale.EN
        created = row.get("createdAt") or self.now
        banned = bool(row.get("banned")) and (
            row.get("banExpires") is None or row["banExpires"] > self.now
        )
        if banned:
            table.note("banned at the predecessor: imported inactive", source_id)
        name = (row.get("name") or "").strip()
        if len(name) > 200:
            table.note("name longer than 200 characters: shortened", source_id)
        return User(
            id=target_id,
            email=address,
            name=name[:200],
            image=image,
            locale=locale,
            email_verified_at=created if row.get("emailVerified") else None,
            role=Role.ADMIN if Role.ADMIN in roles else Role.USER,
            access_tier=tier,
            kind=kind,
            is_active=not banned,
            created_at=created,
        )

    # -- Two-factor ------------------------------------------------------------------------------

    def two_factor(self) -> None:
        for table, batch in self.batches("twoFactor"):
            owners = [row["userId"] for row in batch]
            users = self.users_for(owners)
            enabled = self.source.user_flag("twoFactorEnabled", owners)
            done = self.mapped("twoFactor", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["id"])
                elif row.get("verified") is False:
                    table.skip("set-up never confirmed at the predecessor", row["id"])
                elif self.source.has_column("user", "twoFactorEnabled") and not enabled.get(
                    row["userId"]
                ):
                    table.skip("two-step sign-in was off for the user", row["id"])
                elif SealedTotpDevice.objects.filter(user=user).exists():
                    table.skip("the account has an authenticator here already", row["id"])
                else:
                    self._two_factor_one(table, row, user)

    def _two_factor_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        try:
            seed = formats.totp_seed(formats.symmetric_decrypt(row["secret"], self.options.secrets))
        except FormatError as exc:
            table.skip(f"the secret does not open ({exc})", row["id"])
            return
        if len(seed) < otp_crypto.SEED_BYTES:
            table.skip(
                "TOTP key shorter than 160 bits, which this service refuses: the user signs "
                "in without a second factor until they enrol an authenticator again",
                row["id"],
            )
            return
        try:
            codes = formats.backup_codes_parse(row["backupCodes"], self.options.secrets)
        except FormatError as exc:
            codes = []
            table.note(f"backup codes do not open ({exc}): authenticator only", row["id"])
        with transaction.atomic():
            device = SealedTotpDevice(
                user=user, name=TOTP_DEVICE_NAME, confirmed=True, confirmed_at=self.now
            )
            device.seed_seal(seed)
            device.save()
            if codes:
                holder, _ = BackupCodeDevice.objects.get_or_create(
                    user=user, defaults={"name": BACKUP_DEVICE_NAME, "confirmed": True}
                )
                if holder.codes.exists():
                    table.note("the account has backup codes here already: kept", row["id"])
                else:
                    # Codes are compared case-insensitively here: two that differ only in
                    # case become one hash.
                    hashes = sorted({otp_crypto.backup_code_hash(code) for code in codes})
                    BackupCode.objects.bulk_create(
                        BackupCode(device=holder, code_hash=h) for h in hashes
                    )
            self.record("twoFactor", row["id"], device.pk)
        table.imported += 1

    # -- Passkeys --------------------------------------------------------------------------------

    def passkeys(self) -> None:
        for table, batch in self.batches("passkey"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("passkey", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["id"])
                    continue
                self._passkey_one(table, row, user)

    def _passkey_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        try:
            credential_id = formats.b64_any(row["credentialID"])
            public_key = formats.b64_any(row["publicKey"])
            decode_credential_public_key(public_key)
        except (FormatError, WebAuthnException, ValueError):
            table.skip("credential id or public key does not decode", row["id"])
            return
        if len(credential_id) > MAX_CREDENTIAL_ID_BYTES:
            table.skip("credential id longer than WebAuthn allows", row["id"])
            return
        counter = row.get("counter")
        if not isinstance(counter, int) or counter < 0:
            table.skip("sign count is not a number", row["id"])
            return
        key = b64url(credential_id)
        holder = Passkey.objects.filter(credential_id_b64=key).values_list("user_id", flat=True)
        if holder:
            if holder[0] == user.pk:
                table.skip("the passkey is registered here already", row["id"])
            else:
                table.skip("the credential is registered to another account here", row["id"])
            return
        passkey = Passkey(
            id=target_uuid("passkey", row["id"]),
            user=user,
            credential_id=credential_id,
            credential_id_b64=key,
            public_key=public_key,
            sign_count=counter,
            aaguid=(row.get("aaguid") or "")[:64],
            transports=transports_clean(formats.transports_split(row.get("transports"))),
            device_type=formats.device_type(row.get("deviceType")),
            backed_up=bool(row.get("backedUp")),
            name=(row.get("name") or "").strip()[:100] or PASSKEY_DEFAULT_NAME,
            created_at=row.get("createdAt") or self.now,
        )
        try:
            with transaction.atomic():
                passkey.save(force_insert=True)
                self.record("passkey", row["id"], passkey.pk)
        except IntegrityError:
            table.skip("the credential was registered here meanwhile", row["id"])
            return
        table.imported += 1

    # -- Organizations → Spaces ----------------------------------------------------------------

    def organizations(self) -> None:
        owners = self.source.organization_owners()
        for table, batch in self.batches("organization"):
            done = self.mapped("organization", [row["id"] for row in batch])
            users = self.users_for(owners.get(row["id"], "") for row in batch)
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                self._organization_one(table, row, users.get(owners.get(row["id"], "")))

    def _organization_one(
        self, table: TableReport, row: dict[str, Any], owner: User | None
    ) -> None:
        source_id = row["id"]
        metadata = formats.json_object(row.get("metadata"))
        space_type = metadata.pop("type", None)
        if space_type not in SpaceType.values:
            table.note("no valid metadata.type: imported as a team Space", source_id)
            space_type = SpaceType.TEAM
        tier = metadata.pop("tier", None)
        if space_type == SpaceType.PERSONAL:
            if owner is None:
                table.skip("personal Space whose owner was not imported", source_id)
                return
            existing = space_selectors.personal_space_for(user=owner)
            if existing is not None:
                self._organization_merged(table, source_id, existing)
                return
        if tier not in Tier.values:
            tier = owner.access_tier if space_type == SpaceType.PERSONAL and owner else Tier.PUBLIC
        if row.get("logo"):
            metadata["logo"] = row["logo"]
        if len(json.dumps(metadata, default=str)) > SPACE_METADATA_MAX_BYTES:
            table.note("metadata over 16 KiB: left out", source_id)
            metadata = {}
        space = Space(
            id=target_uuid("organization", source_id),
            name=(row.get("name") or "").strip()[:200] or "Space",
            type=space_type,
            tier=tier,
            metadata=json.loads(json.dumps(metadata, default=str)),
            created_by=owner,
            created_at=row.get("createdAt") or self.now,
        )
        if owner is None:
            table.note("no owner among its members", source_id)
        try:
            self._space_insert(table, space, source_id, row.get("slug") or "")
        except IntegrityError as exc:
            if _constraint(exc) == PERSONAL_UNIQUE_CONSTRAINT and owner is not None:
                existing = space_selectors.personal_space_for(user=owner)
                if existing is not None:
                    self._organization_merged(table, source_id, existing)
                    return
            table.skip("its id is taken here", source_id)
            return
        table.imported += 1

    def _organization_merged(self, table: TableReport, source_id: str, space: Space) -> None:
        self.record("organization", source_id, space.pk)
        table.imported += 1
        table.note("a second personal Space of its owner: merged into the first", source_id)

    def _space_insert(self, table: TableReport, space: Space, source_id: str, slug: str) -> None:
        """Save under the predecessor's slug when it is valid here, else a reported rename."""
        reason = None
        if not slugs.is_valid_slug(slug):
            reason = "not a valid slug here"
        elif slugs.is_reserved(slug):
            reason = "reserved here"
        elif Space.objects.filter(slug=slug).exists():
            reason = "taken here"
        if reason is None:
            candidates: Iterable[str] = [slug]
        else:
            base = slugs.slugify(slug) or slugs.slugify(space.name) or slugs.random_slug()
            candidates = slugs.slug_candidates(base)
        for attempt, candidate in enumerate(candidates):
            if attempt > slugs.MAX_NUMBERED_SUFFIX + 50:
                break
            if reason is not None and Space.objects.filter(slug=candidate).exists():
                continue
            space.slug = candidate
            try:
                with transaction.atomic():
                    space.save(force_insert=True)
                    self.record("organization", source_id, space.pk)
            except IntegrityError as exc:
                if _constraint(exc) != SLUG_UNIQUE_CONSTRAINT:
                    raise
                reason = reason or "taken here"
                continue
            if reason is not None:
                table.note(f"slug {reason}: renamed", f"{slug or '(none)'} → {candidate}")
            return
        raise IntegrityError("no free slug")

    def members(self) -> None:
        for table, batch in self.batches("member"):
            spaces = self.spaces_for(row["organizationId"] for row in batch)
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("member", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                space, user = spaces.get(row["organizationId"]), users.get(row["userId"])
                if space is None:
                    table.skip("its organization was not imported", row["id"])
                elif user is None:
                    table.skip("its user was not imported", row["id"])
                elif space.is_personal and space.created_by_id != user.pk:
                    table.skip("a personal Space has no other members", row["id"])
                else:
                    self._member_one(table, row, space, user)

    def _member_one(
        self, table: TableReport, row: dict[str, Any], space: Space, user: User
    ) -> None:
        role, unknown = formats.best_role(row.get("role"), ROLE_RANK)
        if unknown:
            table.note("role(s) unknown here ignored", f"{row['id']}: {','.join(unknown)}")
        if role is None:
            role = SpaceRole.MEMBER
        membership, created = Membership.objects.get_or_create(
            space=space,
            user=user,
            defaults={"role": role, "created_at": row.get("createdAt") or self.now},
        )
        self.record("member", row["id"], membership.pk)
        if created:
            table.imported += 1
        else:
            table.unchanged += 1

    def invitations(self) -> None:
        for table, batch in self.batches("invitation"):
            spaces = self.spaces_for(row["organizationId"] for row in batch)
            inviters = self.users_for(row.get("inviterId") or "" for row in batch)
            done = self.mapped("invitation", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                status = row.get("status") or "pending"
                space = spaces.get(row["organizationId"])
                if status != "pending":
                    table.skip(f"{status}: only pending invitations are carried over", row["id"])
                elif row.get("expiresAt") is None or row["expiresAt"] <= self.now:
                    table.skip("expired", row["id"])
                elif space is None:
                    table.skip("its organization was not imported", row["id"])
                elif space.is_personal:
                    table.skip("a personal Space takes no invitations", row["id"])
                else:
                    self._invitation_one(table, row, space, inviters.get(row.get("inviterId")))

    def _invitation_one(
        self, table: TableReport, row: dict[str, Any], space: Space, inviter: User | None
    ) -> None:
        address = normalize_email(row["email"] or "")
        if "@" not in address:
            table.skip("no usable email address", row["id"])
            return
        invitee = User.objects.filter_email(address).first()
        if invitee is not None and Membership.objects.filter(space=space, user=invitee).exists():
            table.skip("the invitee is a member already", row["id"])
            return
        role, _ = formats.best_role(row.get("role"), ROLE_RANK)
        invitation = Invitation(
            id=target_uuid("invitation", row["id"]),
            space=space,
            email=address,
            role=role or SpaceRole.MEMBER,
            # The link the invitee holds carries Better Auth's invitation id: it stays the
            # token (POST /api/v1/invitations/accept {token: <that id>}).
            token_hash=hash_token(row["id"]),
            invited_by=inviter,
            created_at=row.get("createdAt") or self.now,
            expires_at=row["expiresAt"],
        )
        try:
            with transaction.atomic():
                invitation.save(force_insert=True)
                self.record("invitation", row["id"], invitation.pk)
        except IntegrityError:
            table.skip("its id or token is taken here", row["id"])
            return
        table.imported += 1

    def personal_spaces(self) -> None:
        """Every imported user has a personal Space, as every user who signs up here does."""
        table = self.report.table("personal space (created)")
        targets = ImportedRecord.objects.filter(source_table="user").order_by("pk")
        after = 0
        while True:
            page = list(targets.filter(pk__gt=after).values_list("pk", "target_id")[:500])
            if not page:
                return
            after = page[-1][0]
            with transaction.atomic():
                missing = User.objects.filter(pk__in=[t for _, t in page]).exclude(
                    created_spaces__type=SpaceType.PERSONAL
                )
                for user in missing:
                    personal_space_ensure(user=user)
                    table.imported += 1

    # -- API keys --------------------------------------------------------------------------------

    def api_keys(self) -> None:
        for table, batch in self.batches("apikey"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("apikey", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip(
                        "its owner is not an imported user (an organization's key?)", row["id"]
                    )
                    continue
                self._api_key_one(table, row, user)

    def _api_key_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        source_id, stored = row["id"], (row["key"] or "").strip()
        visible = (row.get("start") or row.get("prefix") or "")[:40]
        if _API_KEY_HASH.match(stored):
            key_hash = stored
        elif stored.startswith(LEGACY_KEY_PREFIXES):
            # Stored unhashed (the plugin's disableKeyHashing): only its hash is kept here.
            key_hash = better_auth_key_hash(stored)
            visible = visible or stored[:8]
            table.note("stored in clear at the predecessor: only its hash is kept", source_id)
        else:
            table.skip("the stored key is neither Better Auth's hash nor a key", source_id)
            return
        if not visible.startswith(LEGACY_KEY_PREFIXES):
            table.note(
                "not a mana_ key: valid at internal/api-keys/validate, not as a bearer token",
                source_id,
            )
        scopes, unmapped = formats.permissions_to_scopes(
            row.get("permissions"), row.get("metadata"), SCOPES
        )
        if scopes is None:
            scopes = sorted(SCOPES)
            table.note("no permissions at the predecessor: given every scope", source_id)
        if unmapped:
            table.note(
                "permissions with no scope here dropped", f"{source_id}: {','.join(unmapped)}"
            )
        revoked_at = None
        if row.get("enabled") is False:
            revoked_at = row.get("updatedAt") or self.now
            table.note("disabled at the predecessor: imported revoked", source_id)
        elif row.get("remaining") == 0:
            revoked_at = row.get("updatedAt") or self.now
            table.note("its usage limit was used up: imported revoked", source_id)
        elif isinstance(row.get("remaining"), int):
            table.note("a usage limit is not enforced here", source_id)
        api_key = ApiKey(
            id=target_uuid("apikey", source_id),
            user=user,
            name=((row.get("name") or "").strip() or f"Imported key {visible}")[:100],
            prefix=visible or "mana_",
            key_hash=key_hash,
            hash_format=ApiKeyHashFormat.BETTER_AUTH,
            scopes=scopes,
            expires_at=row.get("expiresAt"),
            revoked_at=revoked_at,
            created_at=row.get("createdAt") or self.now,
        )
        try:
            with transaction.atomic():
                api_key.save(force_insert=True)
                self.record("apikey", source_id, api_key.pk)
        except IntegrityError:
            table.skip("the same key is here already", source_id)
            return
        table.imported += 1

    # -- Vaults ----------------------------------------------------------------------------------

    def vaults(self) -> None:
        for table, batch in self.batches("encryption_vaults"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("encryption_vaults", [row["userId"] for row in batch])
            for row in batch:
                table.read += 1
                if row["userId"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["userId"])
                    continue
                self._vault_one(table, row, user)

    def _vault_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        source_id = row["userId"]
        zero_knowledge = bool(row.get("zeroKnowledge"))
        server = (row.get("wrappedMk"), row.get("wrapIv"))
        recovery = (row.get("recoveryWrappedMk"), row.get("recoveryIv"))
        if bool(server[0]) != bool(server[1]) or bool(recovery[0]) != bool(recovery[1]):
            table.skip("a wrap without its IV", source_id)
            return
        if zero_knowledge and (server[0] or not recovery[0]):
            table.skip("zero-knowledge, yet not exactly one recovery wrap", source_id)
            return
        if not server[0] and not recovery[0]:
            table.skip("no wrap at all", source_id)
            return
        fields: dict[str, Any] = {
            "format_version": row.get("formatVersion") or FORMAT_VERSION,
            "created_at": row.get("createdAt") or self.now,
            "rotated_at": row.get("rotatedAt"),
            "zero_knowledge": zero_knowledge,
        }
        if recovery[0]:
            # The client's own wrap: the server never could open it; copied verbatim.
            fields.update(
                recovery_wrapped_mk=recovery[0],
                recovery_iv=recovery[1],
                recovery_format_version=row.get("recoveryFormatVersion") or FORMAT_VERSION,
                recovery_set_at=row.get("recoverySetAt") or fields["created_at"],
            )
        if server[0]:
            try:
                master_key = bytearray(
                    formats.vault_unwrap(
                        wrapped_mk=server[0], wrap_iv=server[1], keks=self.options.keks
                    )
                )
            except FormatError as exc:
                table.skip(f"the server wrap does not open ({exc})", source_id)
                return
            try:
                wrapped = seal(master_key, aad=associated_data("vault-mk", user.pk))
            finally:
                wipe(master_key)
            fields.update(wrapped_mk=wrapped.ciphertext, wrap_iv=wrapped.iv, kek_id=wrapped.kek_id)
        with vault_scope(user.pk):
            if Vault.objects.filter(user_id=user.pk).exists():
                table.skip("the account has a vault here already", source_id)
                return
            Vault.objects.create(user_id=user.pk, **fields)
            self.record("encryption_vaults", source_id, user.pk)
        table.imported += 1
        if zero_knowledge:
            table.note("zero-knowledge: copied as it is", source_id)

    def vault_audit(self) -> None:
        for table, batch in self.batches("encryption_vault_audit"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("encryption_vault_audit", [row["id"] for row in batch])
            by_user: dict[uuid.UUID, list[tuple[str, VaultAudit]]] = {}
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["id"])
                    continue
                if row["action"] not in VaultAction.values:
                    table.skip(f"action {row['action']!r} unknown here", row["id"])
                    continue
                by_user.setdefault(user.pk, []).append((row["id"], self._audit_row(row, user)))
            for user_id, items in by_user.items():
                scope_set(user_id)  # this batch's transaction; the policies admit the user
                created = VaultAudit.objects.bulk_create([audit for _, audit in items])
                ImportedRecord.objects.bulk_create(
                    ImportedRecord(
                        source_table="encryption_vault_audit",
                        source_id=str(source_id),
                        target_id=str(audit.pk),
                    )
                    for (source_id, _), audit in zip(items, created, strict=True)
                )
                table.imported += len(items)

    def _audit_row(self, row: dict[str, Any], user: User) -> VaultAudit:
        ip = row.get("ipAddress")
        try:
            ip = str(ipaddress.ip_address((ip or "").split(",")[0].strip())) if ip else None
        except ValueError:
            ip = None
        context = formats.json_object(row.get("context"))
        if not context and row.get("context"):
            context = {"detail": str(row["context"])[:2000]}
        context["source"] = "predecessor"
        status = row.get("status")
        return VaultAudit(
            user_id=user.pk,
            action=row["action"],
            status=status if isinstance(status, int) and 0 <= status < 1000 else 0,
            ip_address=ip,
            user_agent=(row.get("userAgent") or "")[:512],
            context=context,
            created_at=row.get("createdAt") or self.now,
        )

    # -- Personas --------------------------------------------------------------------------------

    def personas(self) -> None:
        for table, batch in self.batches("personas"):
            users = self.users_for(row["userId"] for row in batch)
            done = self.mapped("personas", [row["userId"] for row in batch])
            for row in batch:
                table.read += 1
                if row["userId"] in done:
                    table.unchanged += 1
                    continue
                user = users.get(row["userId"])
                if user is None:
                    table.skip("its user was not imported", row["userId"])
                elif row["archetype"] not in Archetype.values:
                    table.skip(f"archetype {row['archetype']!r} unknown here", row["userId"])
                elif Persona.objects.filter(user=user).exists():
                    self.record("personas", row["userId"], user.pk)
                    table.unchanged += 1
                    table.note("a persona here already: its actions join it", row["userId"])
                else:
                    self._persona_one(table, row, user)

    def _persona_one(self, table: TableReport, row: dict[str, Any], user: User) -> None:
        cadence = row.get("tickCadence") or TickCadence.DAILY
        if cadence not in TickCadence.values:
            table.note(f"cadence {cadence!r} unknown here: daily", row["userId"])
            cadence = TickCadence.DAILY
        Persona.objects.create(
            user=user,
            archetype=row["archetype"],
            system_prompt=row.get("systemPrompt") or "",
            module_mix=formats.json_object(row.get("moduleMix")),
            tick_cadence=cadence,
            last_active_at=row.get("lastActiveAt"),
            created_at=row.get("createdAt") or self.now,
        )
        self.record("personas", row["userId"], user.pk)
        table.imported += 1

    def _personas_for(self, source_ids: Iterable[str]) -> dict[str, Persona]:
        users = self.users_for(source_ids)
        found = {p.user_id: p for p in Persona.objects.filter(user__in=list(users.values()))}
        return {src: found[u.pk] for src, u in users.items() if u.pk in found}

    def persona_actions(self) -> None:
        for table, batch in self.batches("persona_actions"):
            personas = self._personas_for(row["personaId"] for row in batch)
            done = self.mapped("persona_actions", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                persona = personas.get(row["personaId"])
                result = row.get("result") or ActionResult.OK
                if persona is None:
                    table.skip("its persona was not imported", row["id"])
                elif result not in ActionResult.values:
                    table.skip(f"result {result!r} unknown here", row["id"])
                else:
                    latency = row.get("latencyMs")
                    self._insert(
                        table,
                        "persona_actions",
                        row["id"],
                        PersonaAction(
                            persona=persona,
                            tick_id=row["tickId"][:64],
                            tool_name=row["toolName"][:100],
                            input_hash=row["inputHash"][:128],
                            result=result,
                            detail=row.get("detail") or "",
                            latency_ms=latency if isinstance(latency, int) and latency >= 0 else 0,
                            created_at=row.get("createdAt") or self.now,
                        ),
                        "the same call on the same tick is here already",
                    )

    def persona_feedback(self) -> None:
        for table, batch in self.batches("persona_feedback"):
            personas = self._personas_for(row["personaId"] for row in batch)
            done = self.mapped("persona_feedback", [row["id"] for row in batch])
            for row in batch:
                table.read += 1
                if row["id"] in done:
                    table.unchanged += 1
                    continue
                persona = personas.get(row["personaId"])
                rating = row.get("rating")
                if persona is None:
                    table.skip("its persona was not imported", row["id"])
                elif not isinstance(rating, int) or not 1 <= rating <= 5:
                    table.skip("rating outside 1 to 5", row["id"])
                else:
                    self._insert(
                        table,
                        "persona_feedback",
                        row["id"],
                        PersonaFeedback(
                            persona=persona,
                            tick_id=row["tickId"][:64],
                            module=row["module"][:64],
                            rating=rating,
                            notes=row.get("notes") or "",
                            created_at=row.get("createdAt") or self.now,
                        ),
                        "feedback on the same module and tick is here already",
                    )

    def _insert(
        self, table: TableReport, key: str, source_id: str, obj: Any, conflict: str
    ) -> None:
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
                self.record(key, source_id, obj.pk)
        except IntegrityError:
            table.skip(conflict, source_id)
            return
        table.imported += 1

    # -- Left behind -----------------------------------------------------------------------------

    def jwks(self) -> None:
        if not self.source.has("jwks"):
            self.report.absent("jwks")
            return
        table = self.report.table("jwks")
        count = self.source.count("jwks")
        table.read = count
        for _ in range(count):
            table.skip(
                "signing keys stay behind: this service signs with its own, and the "
                "predecessor's sessions are not copied (everyone signs in once more)"
            )
