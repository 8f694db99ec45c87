"""Account deletion (GDPR Art. 17): everything of the user goes; the audit trail survives
without personal data."""

from __future__ import annotations

from django.db import connection, transaction

from accounts.models import User
from mana_auth.clientip import RequestMeta
from security.models import EventType, SecurityEvent
from security.services import security_event_record


@transaction.atomic
def user_data_delete(*, user: User, meta: RequestMeta, actor: User | None = None) -> None:
    user_id = str(user.id)
    security_event_record(
        type=EventType.ACCOUNT_DELETED,
        user=None,
        meta=RequestMeta(),
        metadata={"byAdmin": actor is not None},
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL mana.audit_anonymise = 'on'")
    SecurityEvent.objects.filter(user_id=user_id).update(user=None, ip_address=None, user_agent="")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL mana.audit_anonymise = 'off'")
    from accounts.selectors import session_cache_forget

    session_cache_forget(list(user.sessions.values_list("id", flat=True)))
    from spaces.services import spaces_delete_solely_owned

    spaces_delete_solely_owned(user=user)
    user.delete()
