"""``manage.py import_predecessor --source <postgres URL>``: take over the predecessor's users,
factors, Spaces, keys, vaults and personas (README "Migrating from the predecessor")."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from mana_auth.config import ConfigError, decode_kek
from mana_auth.errors import is_infrastructure_error
from mana_auth.kek.keyring import active_keyring
from predecessor.formats import FormatError, SourceSecrets, secrets_versions_parse
from predecessor.importer import ImportOptions, ImportRefused, predecessor_import
from predecessor.source import Source, SourceError


class Command(BaseCommand):
    help = (
        "Import the predecessor's (Better Auth) users, passwords, two-factor secrets, "
        "passkeys, organizations, members, invitations, API keys, vaults and personas. "
        "Safe to run again: what was imported is skipped, so a second run picks up only "
        "what is new. Reads the source in one read-only snapshot."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source", required=True, metavar="URL", help="the predecessor's PostgreSQL URL"
        )
        parser.add_argument(
            "--source-schema", metavar="NAME", help="its schema (default: found by looking)"
        )
        parser.add_argument(
            "--source-secret-env",
            metavar="NAME",
            help="environment variable holding the predecessor's BETTER_AUTH_SECRET",
        )
        parser.add_argument(
            "--source-secrets-env",
            metavar="NAME",
            help="environment variable holding its BETTER_AUTH_SECRETS ('2:new,1:old'), "
            "when it rotated secrets",
        )
        parser.add_argument(
            "--source-kek-env",
            metavar="NAME",
            help="environment variable holding the predecessor's MANA_AUTH_KEK (base64), "
            "when it differs from this service's keys",
        )
        parser.add_argument("--dry-run", action="store_true", help="read and report; write nothing")
        parser.add_argument("--batch", type=int, default=500, metavar="N", help="rows per batch")

    def _env(self, name: str) -> str:
        value = os.environ.get(name, "")
        if not value.strip():
            raise CommandError(f"the environment variable {name} is not set or empty")
        return value

    def _secrets(self, options: dict[str, Any]) -> SourceSecrets:
        legacy = self._env(options["source_secret_env"]) if options["source_secret_env"] else None
        versions: dict[int, str] = {}
        if options["source_secrets_env"]:
            try:
                versions = secrets_versions_parse(self._env(options["source_secrets_env"]))
            except FormatError as exc:
                raise CommandError(f"{options['source_secrets_env']}: {exc}") from exc
        return SourceSecrets(legacy=legacy, versions=versions)

    def _keks(self, options: dict[str, Any]) -> tuple[bytes, ...]:
        ring = active_keyring()
        own = (ring.active, *ring.retired)
        name = options["source_kek_env"]
        if not name:
            return own
        try:
            return (decode_kek(self._env(name), name), *own)
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc

    def _progress(self, table: str, done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        self.stderr.write(f"\r{table}: {done}/{total}", ending=end)
        self.stderr.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        settings = ImportOptions(
            secrets=self._secrets(options),
            keks=self._keks(options),
            batch_size=options["batch"],
            dry_run=options["dry_run"],
            progress=self._progress if self.stderr.isatty() else None,
        )
        source = Source(options["source"], schema=options["source_schema"])
        try:
            source.open()
        except SourceError as exc:
            raise CommandError(str(exc)) from exc
        try:
            report = predecessor_import(source=source, options=settings)
        except ImportRefused as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from exc
        except psycopg.Error as exc:
            raise CommandError(
                f"the source database failed during the import ({type(exc).__name__}). "
                "What was committed stays; run the command again to resume."
            ) from exc
        except DatabaseError as exc:
            if not is_infrastructure_error(exc):
                raise
            raise CommandError(
                "this service's database failed during the import. What was committed "
                "stays; run the command again to resume."
            ) from exc
        finally:
            source.close()
        for line in report.lines():
            self.stdout.write(line)
