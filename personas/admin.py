"""Operators' console for personas: who they are, what the runner did, what it thought.

The console is the persona management UI: a persona's prompt, archetype, module mix and
cadence are edited here through ``persona_settings_update`` (validated like the catalog,
audited). ``seed_personas`` still brings personas back to ``personas/catalog.json``: a change
meant to last belongs in the catalog too. Deleting a persona deletes its whole account
through the persona service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.console import ServiceSaveAdmin
from mana_auth.clientip import RequestMeta
from mana_auth.console_lookups import ConsoleModelAdmin
from mana_auth.errors import ValidationFailed
from personas import selectors, services
from personas.models import Persona, PersonaAction, PersonaFeedback

RECENT = selectors.RECENT_ACTIONS


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _RecentInline(_ReadOnly, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        recent = (
            self.model.objects.filter(persona=OuterRef("persona"))
            .order_by("-created_at", "-id")
            .values("id")[:RECENT]
        )
        return super().get_queryset(request).filter(id__in=Subquery(recent)).order_by("-created_at")


class RecentActionInline(_RecentInline):
    model = PersonaAction
    verbose_name_plural = f"recent actions (last {RECENT})"
    fields = ("created_at", "tick_id", "tool_name", "result", "latency_ms", "detail")
    readonly_fields = fields


class RecentFeedbackInline(_RecentInline):
    model = PersonaFeedback
    verbose_name_plural = f"recent feedback (last {RECENT})"
    fields = ("created_at", "tick_id", "module", "rating", "notes")
    readonly_fields = fields


# The service's field names (the API's) → the form's.
_FORM_FIELDS = {
    "archetype": "archetype",
    "systemPrompt": "system_prompt",
    "moduleMix": "module_mix",
    "tickCadence": "tick_cadence",
}


class PersonaSettingsForm(forms.ModelForm):
    """The four settings an operator edits, checked by the service's own rules so a problem
    shows at its field."""

    class Meta:
        model = Persona
        fields = ("archetype", "tick_cadence", "system_prompt", "module_mix")
        help_texts = {
            "module_mix": 'Module id → positive weight, e.g. {"todo": 0.6, "notes": 0.4}.',
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            services.persona_settings_check(
                archetype=cleaned.get("archetype", ""),
                system_prompt=cleaned.get("system_prompt", ""),
                module_mix=cleaned.get("module_mix"),
                tick_cadence=cleaned.get("tick_cadence", ""),
            )
        except ValidationFailed as exc:
            for name, problems in exc.details["fields"].items():
                field = _FORM_FIELDS.get(name)
                if field in self.errors:
                    continue  # already refused by the field itself (required, bad JSON)
                for problem in problems:
                    self.add_error(field, problem)
        return cleaned


@admin.register(Persona)
class PersonaAdmin(ServiceSaveAdmin):
    list_display = (
        "email",
        "name",
        "archetype",
        "tick_cadence",
        "actions_last_7_days",
        "last_active_at",
    )
    list_filter = ("archetype", "tick_cadence")
    search_fields = ("user__email", "user__name")
    fields = (
        "account",
        "archetype",
        "tick_cadence",
        "system_prompt",
        "module_mix",
        "actions_last_7_days",
        "feedback_averages",
        "last_active_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "account",
        "actions_last_7_days",
        "feedback_averages",
        "last_active_at",
        "created_at",
        "updated_at",
    )
    form = PersonaSettingsForm
    inlines = (RecentActionInline, RecentFeedbackInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Persona]:
        return selectors.with_activity(super().get_queryset(request)).order_by("user__email")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # personas are created by seed_personas or POST /api/v1/admin/personas

    def save_through_service(
        self, request: HttpRequest, obj: Persona, form: Any, change: bool
    ) -> None:
        if not form.changed_data:
            return
        data = form.cleaned_data
        services.persona_settings_update(
            persona_id=obj.pk,
            archetype=data["archetype"],
            system_prompt=data["system_prompt"],
            module_mix=data["module_mix"],
            tick_cadence=data["tick_cadence"],
            actor=request.user,  # type: ignore[arg-type]
            meta=RequestMeta.from_request(request),
        )

    @admin.display(description="email", ordering="user__email")
    def email(self, persona: Persona) -> str:
        return persona.user.email

    @admin.display(description="name", ordering="user__name")
    def name(self, persona: Persona) -> str:
        return persona.user.name

    @admin.display(description="account")
    def account(self, persona: Persona) -> str:
        url = reverse("admin:accounts_user_change", args=[persona.user_id])
        return format_html('<a href="{}">{}</a>', url, persona.user.email)

    @admin.display(description="actions (7 days)", ordering="actions_7d")
    def actions_last_7_days(self, persona: Persona) -> int:
        return int(getattr(persona, "actions_7d", 0))

    @admin.display(description="feedback averages")
    def feedback_averages(self, persona: Persona) -> str:
        rows = selectors.persona_feedback_averages(persona=persona)
        if not rows:
            return "No feedback yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((row["module"], f"{row['averageRating']:.2f}", row["count"]) for row in rows),
        )
        return format_html(
            "<table><thead><tr><th>module</th><th>average</th><th>ratings</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # The persona service deletes the whole account; the action and feedback rows go with
        # it, so their (deliberately absent) delete permission is not needed here.
        to_delete, model_count, _, protected = super().get_deleted_objects(objs, request)
        accounts = [
            f"The whole account of {persona.user.email} (sessions, Spaces it alone owns, vault)"
            for persona in objs
        ]
        return [*accounts, *to_delete], model_count, set(), protected

    def delete_model(self, request: HttpRequest, obj: Persona) -> None:
        services.persona_delete(
            user_id=obj.user_id,
            meta=RequestMeta.from_request(request),
            actor=request.user,  # type: ignore[arg-type]
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Persona]) -> None:
        for persona in list(queryset):
            self.delete_model(request, persona)


@admin.register(PersonaAction)
class PersonaActionAdmin(_ReadOnly, ConsoleModelAdmin):
    list_display = ("created_at", "persona", "tick_id", "tool_name", "result", "latency_ms")
    list_filter = ("result", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("persona__user",)
    search_fields = ("persona__user__email", "tick_id", "tool_name")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    fields = (
        "persona",
        "tick_id",
        "tool_name",
        "input_hash",
        "result",
        "detail",
        "latency_ms",
        "created_at",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PersonaFeedback)
class PersonaFeedbackAdmin(_ReadOnly, ConsoleModelAdmin):
    list_display = ("created_at", "persona", "tick_id", "module", "rating")
    list_filter = ("module", "rating", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("persona__user",)
    search_fields = ("persona__user__email", "tick_id", "module", "notes")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    fields = ("persona", "tick_id", "module", "rating", "notes", "created_at")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
