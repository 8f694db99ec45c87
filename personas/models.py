"""Personas: real Mana users (``kind='persona'``) an automated runner signs in as, what it did
on each tick, and what it thought of each module."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Archetype(models.TextChoices):
    ADHD_STUDENT = "adhd-student", "ADHD student"
    CEO_BUSY = "ceo-busy", "Busy CEO"
    CREATIVE_PARENT = "creative-parent", "Creative parent"
    SOLO_DEV = "solo-dev", "Solo developer"
    RESEARCHER = "researcher", "Researcher"
    FREELANCER = "freelancer", "Freelancer"
    OVERWHELMED_NEWBIE = "overwhelmed-newbie", "Overwhelmed newbie"


class TickCadence(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class ActionResult(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Persona(models.Model):
    """How the runner role-plays one persona user. Its primary key is the user's id."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="persona",
    )
    archetype = models.CharField(max_length=32, choices=Archetype.choices)
    system_prompt = models.TextField()
    module_mix = models.JSONField(default=dict, blank=True)
    tick_cadence = models.CharField(
        max_length=16, choices=TickCadence.choices, default=TickCadence.DAILY
    )
    last_active_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "personas_persona"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(archetype__in=Archetype.values),
                name="personas_persona_archetype_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(tick_cadence__in=TickCadence.values),
                name="personas_persona_cadence_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.email} ({self.archetype})"


class PersonaAction(models.Model):
    """One tool call the runner made on a tick; a retried call (same input) is not a new row."""

    id = models.BigAutoField(primary_key=True)
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="actions")
    tick_id = models.CharField(max_length=64)
    tool_name = models.CharField(max_length=100)
    input_hash = models.CharField(max_length=128)
    result = models.CharField(max_length=8, choices=ActionResult.choices)
    detail = models.TextField(blank=True, default="")
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "personas_action"
        constraints = [
            models.UniqueConstraint(
                fields=["persona", "tick_id", "input_hash"],
                name="personas_action_unique_per_tick_input",
            ),
            models.CheckConstraint(
                condition=models.Q(result__in=ActionResult.values),
                name="personas_action_result_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["persona", "-created_at"], name="personas_action_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.result}) on tick {self.tick_id}"


class PersonaFeedback(models.Model):
    """The runner's rating of one module at the end of a tick."""

    id = models.BigAutoField(primary_key=True)
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="feedback")
    tick_id = models.CharField(max_length=64)
    module = models.CharField(max_length=64)
    rating = models.PositiveSmallIntegerField()
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "personas_feedback"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5),
                name="personas_feedback_rating_1_to_5",
            ),
            models.UniqueConstraint(
                fields=["persona", "tick_id", "module"],
                name="personas_feedback_unique_per_tick_module",
            ),
        ]
        indexes = [models.Index(fields=["persona", "module"], name="personas_feedback_module_idx")]

    def __str__(self) -> str:
        return f"{self.module}: {self.rating}/5 on tick {self.tick_id}"
