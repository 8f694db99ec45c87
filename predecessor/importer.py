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

from typing import Any

from django.db import connection, transaction

from mana_auth.kek.crypto import wipe
from predecessor import formats
from predecessor.formats import FormatError
from predecessor.report import Report
from predecessor.source import Source
from predecessor.steps.base import ImportOptions, ImportRefused, Progress, target_uuid
from predecessor.steps.factors import FactorSteps
from predecessor.steps.keys import KeySteps
from predecessor.steps.personas import PersonaSteps
from predecessor.steps.spaces import SpaceSteps
from predecessor.steps.users import UserSteps
from predecessor.steps.vaults import VaultSteps
from security.models import EventType
from security.services import security_event_record

__all__ = [
    "ImportOptions",
    "ImportRefused",
    "Progress",
    "predecessor_import",
    "predecessor_preflight",
    "target_uuid",
]

_ADVISORY_LOCK = 0x6D616E61  # "mana": one import at a time against this database
PREFLIGHT_SAMPLES = 20


class _DryRunRollback(Exception):
    pass


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


class _Run(UserSteps, FactorSteps, SpaceSteps, KeySteps, VaultSteps, PersonaSteps):
    """One import: the steps in the order their rows depend on each other."""

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
