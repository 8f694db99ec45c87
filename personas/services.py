"""Writes for personas: create-or-update from a spec, delete, the runner's actions and feedback,
and the catalog seed and cleanup behind the management commands.

A persona is a real account signed up through the normal registration service, then stamped
``kind='persona'``, tier ``founder`` and verified. Its password is derived
(``personas.crypto.persona_password``) and re-derived on every run, never stored in clear.
Every write is atomic and records its security event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from accounts.deletion import user_data_delete
from accounts.emails import email_key, normalize_email
from accounts.models import Kind, Tier, User
from accounts.registration import user_register
from mana_auth import config
from mana_auth.clientip import RequestMeta
from mana_auth.errors import AuthError, Forbidden, ValidationFailed
from mana_auth.lookups import scoped_get
from personas import catalog as catalog_rules
from personas.catalog import Catalog, CatalogPersona, CatalogSpace
from personas.crypto import persona_password
from personas.exceptions import NotAPersona
from personas.models import Persona, PersonaAction, PersonaFeedback
from security.models import EventType
from security.services import security_event_record
from spaces import modules
from spaces.models import Membership, Space, SpaceRole
from spaces.services.spaces import (
    membership_ensure_by_system,
    personal_space_tier_sync,
    space_create,
    space_tier_set_by_system,
    space_update,
)

PERSONA_TIER = Tier.FOUNDER


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaUpsert:
    persona: Persona
    created: bool  # the account was signed up by this call
    changed: tuple[str, ...]  # what this call changed; empty when nothing was needed


@dataclass(frozen=True)
class SeedLine:
    """One line of a seed or cleanup report."""

    subject: str  # a persona's email or a shared Space's slug
    outcome: str  # created | updated | unchanged | deleted | refused
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanupReport:
    lines: tuple[SeedLine, ...]
    not_in_catalog: tuple[str, ...]  # live personas the catalog does not know
    missing: tuple[str, ...]  # catalog personas that are not live

    @property
    def drifted(self) -> bool:
        return bool(self.not_in_catalog or self.missing)


# --- Passwords --------------------------------------------------------------------------------


def persona_seed_secret() -> str:
    """The configured seed secret; the development fallback never derives production passwords
    (production boot refuses it too, see ``mana_auth.config.production_problems``)."""
    secret = settings.PERSONA_SEED_SECRET
    if not secret or (settings.IS_PRODUCTION and secret == config.DEV_PERSONA_SEED_SECRET):
        raise ImproperlyConfigured("PERSONA_SEED_SECRET must be set to a private value")
    return secret


def persona_password_for(email: str) -> str:
    return persona_password(email=email, secret=persona_seed_secret())


# --- Checks -----------------------------------------------------------------------------------


def persona_spec_check(spec: CatalogPersona) -> None:
    """Refuse a spec the catalog loader would refuse, as VALIDATION_ERROR with field names."""
    fields: dict[str, list[str]] = {}
    if not catalog_rules.is_persona_email(spec.email):
        fields["email"] = [f"A persona's address must be on @{catalog_rules.PERSONA_EMAIL_DOMAIN}."]
    if not spec.name.strip():
        fields["name"] = ["Must not be blank."]
    if not spec.system_prompt.strip():
        fields["systemPrompt"] = ["Must not be blank."]
    if problem := catalog_rules.archetype_problem(spec.archetype):
        fields["archetype"] = [problem]
    if problem := catalog_rules.cadence_problem(spec.tick_cadence):
        fields["tickCadence"] = [problem]
    if problems := catalog_rules.module_mix_problems(spec.module_mix):
        fields["moduleMix"] = problems
    if fields:
        raise ValidationFailed(fields)


def persona_user_changes(*, user: User, spec: CatalogPersona, password: str) -> list[str]:
    """What the account needs to match the spec (reads only)."""
    changes = []
    if user.name != spec.name:
        changes.append("name")
    if user.access_tier != PERSONA_TIER:
        changes.append("tier")
    if user.email_verified_at is None:
        changes.append("verified")
    if not check_password(password, user.password):  # no setter: never writes
        changes.append("password")
    return changes


def persona_row_changes(*, persona: Persona | None, spec: CatalogPersona) -> list[str]:
    """What the persona row needs to match the spec (reads only)."""
    if persona is None:
        return ["persona"]
    changes = []
    if persona.archetype != spec.archetype:
        changes.append("archetype")
    if persona.system_prompt != spec.system_prompt:
        changes.append("systemPrompt")
    if persona.module_mix != spec.module_mix:
        changes.append("moduleMix")
    if persona.tick_cadence != spec.tick_cadence:
        changes.append("tickCadence")
    return changes


# --- Create or update -------------------------------------------------------------------------


@transaction.atomic
def persona_upsert(
    *, spec: CatalogPersona, meta: RequestMeta, actor: User | None = None
) -> PersonaUpsert:
    """Create the persona (through the normal sign-up) or bring it in line with ``spec``.

    Idempotent: a second call with the same spec changes nothing and writes no event. An
    address that belongs to a human is refused (NOT_A_PERSONA), never converted.
    """
    persona_spec_check(spec)
    email = normalize_email(spec.email)
    password = persona_password_for(email)
    user = User.objects.filter_email(email).select_for_update().first()
    created = False
    if user is None:
        # Personas skip the signup cap and never get mail (user_register and send_mail know
        # the kind); the account's personal Space is created in this transaction.
        user, created = user_register(
            email=email,
            password=password,
            name=spec.name,
            meta=meta,
            kind=Kind.PERSONA,
            send_verification=False,
        )
    if user.kind != Kind.PERSONA:
        raise NotAPersona()

    changed: list[str] = []
    user_changes = (
        ["verified"] if created else persona_user_changes(user=user, spec=spec, password=password)
    )
    if created and user.access_tier != PERSONA_TIER:
        user_changes.append("tier")
    if user_changes:
        update_fields = ["updated_at"]
        if "name" in user_changes:
            user.name = spec.name
            update_fields.append("name")
        if "tier" in user_changes:
            user.access_tier = PERSONA_TIER
            update_fields.append("access_tier")
        if "verified" in user_changes:
            user.email_verified_at = timezone.now()
            update_fields.append("email_verified_at")
        if "password" in user_changes:
            user.set_password(password)
            update_fields.append("password")
        user.save(update_fields=update_fields)
        if "tier" in user_changes:
            personal_space_tier_sync(user=user)
        changed.extend(user_changes)

    persona = Persona.objects.select_for_update().filter(user=user).first()
    row_changes = persona_row_changes(persona=persona, spec=spec)
    if persona is None:
        persona = Persona.objects.create(
            user=user,
            archetype=spec.archetype,
            system_prompt=spec.system_prompt,
            module_mix=spec.module_mix,
            tick_cadence=spec.tick_cadence,
        )
    elif row_changes:
        persona.archetype = spec.archetype
        persona.system_prompt = spec.system_prompt
        persona.module_mix = spec.module_mix
        persona.tick_cadence = spec.tick_cadence
        persona.save(
            update_fields=["archetype", "system_prompt", "module_mix", "tick_cadence", "updated_at"]
        )
    changed.extend(row_changes)
    persona.user = user

    if created or changed:
        security_event_record(
            type=EventType.PERSONA_UPSERTED,
            user=user,
            meta=meta,
            metadata={"created": created, "fields": changed, "byAdmin": actor is not None},
        )
        if actor is not None:
            security_event_record(
                type=EventType.ADMIN_ACTION,
                user=actor,
                meta=meta,
                metadata={
                    "action": "persona_upsert",
                    "targetUserId": str(user.id),
                    "created": created,
                },
            )
    return PersonaUpsert(persona=persona, created=created, changed=tuple(changed))


# --- Edit in the console ----------------------------------------------------------------------


def persona_settings_check(
    *, archetype: str, system_prompt: str, module_mix: object, tick_cadence: str
) -> None:
    """Refuse settings the catalog would refuse, as VALIDATION_ERROR keyed like the API."""
    fields: dict[str, list[str]] = {}
    if not isinstance(system_prompt, str) or not system_prompt.strip():
        fields["systemPrompt"] = ["Must not be blank."]
    if problem := catalog_rules.archetype_problem(archetype):
        fields["archetype"] = [problem]
    if problem := catalog_rules.cadence_problem(tick_cadence):
        fields["tickCadence"] = [problem]
    if problems := catalog_rules.module_mix_problems(module_mix):
        fields["moduleMix"] = problems
    if fields:
        raise ValidationFailed(fields)


@transaction.atomic
def persona_settings_update(
    *,
    persona_id: object,
    archetype: str,
    system_prompt: str,
    module_mix: dict[str, float],
    tick_cadence: str,
    actor: User,
    meta: RequestMeta,
) -> PersonaUpsert:
    """An operator changes how the runner plays a persona (the console's persona form).

    Only the persona row changes: the account, its password and its Spaces stay as they are.
    Audited like an upsert (``PERSONA_UPSERTED`` with the changed fields, ``ADMIN_ACTION`` on
    the operator's trail); nothing to change writes nothing. ``seed_personas`` brings a
    persona back to ``catalog.json``: a lasting change belongs in the catalog too.
    """
    if not actor.is_admin:
        raise Forbidden("Only an operator (role admin) can edit personas.")
    system_prompt = system_prompt.strip() if isinstance(system_prompt, str) else system_prompt
    persona_settings_check(
        archetype=archetype,
        system_prompt=system_prompt,
        module_mix=module_mix,
        tick_cadence=tick_cadence,
    )
    persona = scoped_get(
        Persona.objects.select_for_update().filter(user__kind=Kind.PERSONA),
        persona_id,
        field="user_id",
        message="No such persona.",
    )
    wanted = {
        "archetype": ("archetype", archetype),
        "systemPrompt": ("system_prompt", system_prompt),
        "moduleMix": ("module_mix", module_mix),
        "tickCadence": ("tick_cadence", tick_cadence),
    }
    changed = [name for name, (field, value) in wanted.items() if getattr(persona, field) != value]
    if not changed:
        return PersonaUpsert(persona=persona, created=False, changed=())
    for name in changed:
        field, value = wanted[name]
        setattr(persona, field, value)
    persona.save(update_fields=[*(wanted[name][0] for name in changed), "updated_at"])
    user = User.objects.get(pk=persona.user_id)
    security_event_record(
        type=EventType.PERSONA_UPSERTED,
        user=user,
        meta=meta,
        metadata={"created": False, "fields": changed, "byAdmin": True},
    )
    security_event_record(
        type=EventType.ADMIN_ACTION,
        user=actor,
        meta=meta,
        metadata={"action": "persona_update", "targetUserId": str(user.id), "fields": changed},
    )
    return PersonaUpsert(persona=persona, created=False, changed=tuple(changed))


# --- Delete -----------------------------------------------------------------------------------


def _user_locked(user_id: object) -> User:
    return scoped_get(User.objects.select_for_update(), user_id, message="No such user.")


@transaction.atomic
def persona_delete(*, user_id: object, meta: RequestMeta, actor: User | None = None) -> None:
    """Hard-delete a persona account and everything of it. Refuses any other account, so a
    typo cannot run a human through the full deletion chain."""
    user = _user_locked(user_id)
    if user.kind != Kind.PERSONA:
        raise NotAPersona()
    archetype = Persona.objects.filter(user=user).values_list("archetype", flat=True).first()
    security_event_record(
        type=EventType.PERSONA_DELETED,
        user=None,  # the account is about to go; the row must survive it
        meta=meta,
        metadata={
            "personaUserId": str(user.id),
            "archetype": archetype or "",
            "byAdmin": actor is not None,
        },
    )
    if actor is not None:
        security_event_record(
            type=EventType.ADMIN_ACTION,
            user=actor,
            meta=meta,
            metadata={"action": "persona_delete", "targetUserId": str(user.id)},
        )
    user_data_delete(user=user, meta=meta, actor=actor)


# --- The runner's reports ---------------------------------------------------------------------


def _persona_for_report(persona_id: object) -> Persona:
    personas = Persona.objects.filter(user__kind=Kind.PERSONA)
    return scoped_get(personas, persona_id, field="user_id", message="No such persona.")


@transaction.atomic
def persona_action_record(
    *,
    persona_id: object,
    tick_id: str,
    tool_name: str,
    input_hash: str,
    result: str,
    latency_ms: int,
    detail: str = "",
    now: datetime | None = None,
) -> tuple[PersonaAction, bool]:
    """Record one tool call. The same (tick, input hash) again returns the first row
    unchanged: the runner may retry a report without double counting."""
    current = now or timezone.now()
    persona = _persona_for_report(persona_id)
    action, created = PersonaAction.objects.get_or_create(
        persona=persona,
        tick_id=tick_id,
        input_hash=input_hash,
        defaults={
            "tool_name": tool_name,
            "result": result,
            "detail": detail,
            "latency_ms": latency_ms,
            "created_at": current,
        },
    )
    if created:
        Persona.objects.filter(pk=persona.pk).update(last_active_at=current)
    return action, created


@transaction.atomic
def persona_feedback_record(
    *,
    persona_id: object,
    tick_id: str,
    module: str,
    rating: int,
    notes: str = "",
    now: datetime | None = None,
) -> tuple[PersonaFeedback, bool]:
    """Record the rating of one module on one tick (a repeated report returns the first)."""
    if module not in modules.MODULES:
        raise ValidationFailed({"module": [f"Unknown module {module!r}."]})
    current = now or timezone.now()
    persona = _persona_for_report(persona_id)
    feedback, created = PersonaFeedback.objects.get_or_create(
        persona=persona,
        tick_id=tick_id,
        module=module,
        defaults={"rating": rating, "notes": notes, "created_at": current},
    )
    if created:
        Persona.objects.filter(pk=persona.pk).update(last_active_at=current)
    return feedback, created


# --- Catalog: shared Spaces -------------------------------------------------------------------


def _persona_user(email: str) -> User | None:
    return User.objects.filter_email(email).filter(kind=Kind.PERSONA).first()


def shared_space_changes(*, spec: CatalogSpace) -> tuple[str, list[str]]:
    """``(outcome, details)`` for bringing one shared Space in line (reads only)."""
    owner = _persona_user(spec.owner)
    member = _persona_user(spec.members[1])
    space = Space.objects.filter(slug=spec.slug).first()
    if space is None:
        return "created", [f"owner {spec.owner}", f"member {spec.members[1]}"]
    if space.created_by_id is None or space.created_by_id != getattr(owner, "id", None):
        return "refused", ["the slug belongs to a Space this catalog did not create"]
    details = []
    if space.type != spec.type:
        return "refused", [f"the Space is a {space.type} Space, the catalog says {spec.type}"]
    if space.name != spec.name:
        details.append("name")
    if space.tier != PERSONA_TIER:
        details.append("tier")
    roles = dict(Membership.objects.filter(space=space).values_list("user_id", "role"))
    if owner is not None and roles.get(owner.id) != SpaceRole.OWNER:
        details.append(f"owner {spec.owner}")
    if member is None or member.id not in roles:
        details.append(f"member {spec.members[1]}")
    return ("updated" if details else "unchanged"), details


@transaction.atomic
def shared_space_sync(*, spec: CatalogSpace, meta: RequestMeta) -> SeedLine:
    """Create or repair one persona pair's Space: the first persona owns it, the second is a
    member, the tier is the personas' (founder), so every module of the mix can open."""
    outcome, details = shared_space_changes(spec=spec)
    if outcome in ("unchanged", "refused"):
        return SeedLine(subject=spec.slug, outcome=outcome, details=tuple(details))
    owner = _persona_user(spec.owner)
    member = _persona_user(spec.members[1])
    if owner is None or member is None:
        missing = [
            email for email, user in zip(spec.members, (owner, member), strict=True) if not user
        ]
        return SeedLine(
            subject=spec.slug,
            outcome="refused",
            details=tuple(f"{email} is not a persona account (yet)" for email in missing),
        )
    if outcome == "created":
        space = space_create(user=owner, name=spec.name, type=spec.type, slug=spec.slug, meta=meta)
    else:
        space = Space.objects.select_for_update().get(slug=spec.slug)
        if f"owner {spec.owner}" in details:
            membership_ensure_by_system(
                space=space, user=owner, role=SpaceRole.OWNER, meta=meta, reason="persona-seed"
            )
        if space.name != spec.name:
            space = space_update(user=owner, space_id=space.id, data={"name": spec.name}, meta=meta)
    # A persona can never answer an invitation mail: seeding is the system acting.
    if not space.memberships.filter(user=member).exists():
        membership_ensure_by_system(
            space=space, user=member, role=SpaceRole.MEMBER, meta=meta, reason="persona-seed"
        )
    space = space_tier_set_by_system(
        space=space, tier=PERSONA_TIER, meta=meta, reason="persona-seed"
    )
    security_event_record(
        type=EventType.PERSONA_SPACE_SYNCED,
        user=owner,
        meta=meta,
        metadata={
            "spaceId": str(space.id),
            "created": outcome == "created",
            "changes": details,
            "memberUserId": str(member.id),
        },
    )
    return SeedLine(subject=spec.slug, outcome=outcome, details=tuple(details))


# --- Catalog: seed and cleanup ----------------------------------------------------------------


def persona_plan(*, spec: CatalogPersona) -> SeedLine:
    """What ``persona_upsert`` would do for ``spec`` (reads only; the dry run)."""
    user = User.objects.filter_email(spec.email).first()
    if user is None:
        return SeedLine(subject=spec.email, outcome="created")
    if user.kind != Kind.PERSONA:
        return SeedLine(subject=spec.email, outcome="refused", details=("not a persona account",))
    changes = persona_user_changes(user=user, spec=spec, password=persona_password_for(spec.email))
    changes += persona_row_changes(persona=Persona.objects.filter(user=user).first(), spec=spec)
    return SeedLine(
        subject=spec.email, outcome="updated" if changes else "unchanged", details=tuple(changes)
    )


def personas_seed(
    *, catalog: Catalog, dry_run: bool = False, meta: RequestMeta | None = None
) -> list[SeedLine]:
    """Create or update every persona of the catalog, then their shared Spaces. Each persona
    is its own transaction: a re-run finishes whatever an interrupted run left."""
    request_meta = meta or RequestMeta(user_agent="manage.py seed_personas")
    lines: list[SeedLine] = []
    for spec in catalog.personas:
        if dry_run:
            lines.append(persona_plan(spec=spec))
            continue
        try:
            result = persona_upsert(spec=spec, meta=request_meta)
        except AuthError as exc:
            if exc.code != "NOT_A_PERSONA":
                raise
            lines.append(SeedLine(spec.email, "refused", ("not a persona account",)))
            continue
        outcome = "created" if result.created else ("updated" if result.changed else "unchanged")
        details = () if result.created else result.changed
        lines.append(SeedLine(subject=spec.email, outcome=outcome, details=details))
    for space_spec in catalog.spaces:
        if dry_run:
            outcome, details = shared_space_changes(spec=space_spec)
            lines.append(SeedLine(space_spec.slug, outcome, tuple(details)))
        else:
            lines.append(shared_space_sync(spec=space_spec, meta=request_meta))
    return lines


def personas_cleanup(
    *, catalog: Catalog | None, dry_run: bool = False, meta: RequestMeta | None = None
) -> CleanupReport:
    """Hard-delete every live persona (through account deletion) and report drift between
    the live set and the catalog."""
    request_meta = meta or RequestMeta(user_agent="manage.py cleanup_personas")
    live = list(User.objects.filter(kind=Kind.PERSONA).order_by("email").values_list("id", "email"))
    live_keys = {email_key(email) for _, email in live}
    known = catalog.emails() if catalog is not None else live_keys
    not_in_catalog = tuple(email for _, email in live if email_key(email) not in known)
    missing = tuple(
        spec.email
        for spec in (catalog.personas if catalog is not None else ())
        if email_key(spec.email) not in live_keys
    )
    lines = []
    for user_id, email in live:
        if not dry_run:
            persona_delete(user_id=user_id, meta=request_meta)
        lines.append(SeedLine(subject=email, outcome="deleted"))
    return CleanupReport(lines=tuple(lines), not_in_catalog=not_in_catalog, missing=missing)
