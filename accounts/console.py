"""The operators' console around the models: its dashboard and what every ``admin.py`` shares.

The site itself (branding, sign-in, who may enter) is ``accounts.signin.admin_console``. This
module holds the index's figures (each one cheap query) and ``ServiceSaveAdmin``, the base of
every change form whose save calls a service: a refused save reads as one clear error, never
as an error next to Django's "changed successfully".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from accounts.models import OutboxMessage
from accounts.registration import signups_today
from mana_auth.console_lookups import ConsoleModelAdmin
from mana_auth.errors import AuthError, ValidationFailed
from security.models import LoginAttempt, LoginThrottle, SecurityEvent

LATEST_EVENTS = 10
FAILED_SIGN_IN_WINDOW = timedelta(hours=1)
_REFUSAL = "_mana_console_refusal"


# --- The dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    signups_today: int
    signup_cap: int | None  # MAX_DAILY_SIGNUPS; None: unlimited
    locked_accounts: int
    failed_sign_ins_last_hour: int
    outbox_pending: int
    outbox_retrying: int  # of the pending rows, those that failed at least once
    latest_events: list[SecurityEvent]


def console_dashboard(*, now: datetime | None = None) -> Dashboard:
    """The console index's figures. Each is one indexed query: the index opens on every
    sign-in and must stay cheap however large the audit trail grows."""
    current = now or timezone.now()
    pending = OutboxMessage.objects.filter(delivered_at__isnull=True)
    return Dashboard(
        signups_today=signups_today(now=current),
        signup_cap=settings.MAX_DAILY_SIGNUPS,
        # The account-wide scope only, as the users list's "password lock" filter.
        locked_accounts=LoginThrottle.objects.filter(
            scope__startswith="acct:", locked_until__gt=current
        ).count(),
        failed_sign_ins_last_hour=LoginAttempt.objects.filter(
            success=False, created_at__gte=current - FAILED_SIGN_IN_WINDOW
        ).count(),
        outbox_pending=pending.count(),
        outbox_retrying=pending.filter(attempts__gt=0).count(),
        latest_events=list(
            SecurityEvent.objects.select_related("user")
            .only("id", "type", "created_at", "ip_address", "user__email")
            .order_by("-created_at")[:LATEST_EVENTS]
        ),
    )


# --- Change forms that save through a service -------------------------------------------------


class ServiceSaveAdmin(ConsoleModelAdmin):
    """A change form whose ``save_model`` calls a service.

    A service that refuses (an ``AuthError``: not an operator, a rule of the domain) leaves
    the row unchanged; the operator sees the refusal as the page's one message and the form
    again, and no "changed successfully" banner or admin log entry claims otherwise.
    """

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            self.save_through_service(request, obj, form, change)
        except AuthError as exc:
            setattr(request, _REFUSAL, exc)

    def save_through_service(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Each console that saves through a service says which (Users, Spaces, Personas)."""
        raise NotImplementedError(f"{type(self).__name__} must save through its service")

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, _REFUSAL, None) is not None:
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        refusal = getattr(request, _REFUSAL, None)
        if refusal is None:
            return super().response_change(request, obj)
        self.message_user(request, refusal_message(refusal), level=messages.ERROR)
        return HttpResponseRedirect(request.path)


def refusal_message(exc: AuthError) -> str:
    """A refusal as a sentence, with the field problems a VALIDATION_ERROR carries."""
    if isinstance(exc, ValidationFailed):
        fields = (exc.details or {}).get("fields", {})
        problems = [f"{name}: {'; '.join(texts)}" for name, texts in fields.items()]
        if problems:
            return f"{exc.message} {' '.join(problems)}"
    return str(exc.message)
