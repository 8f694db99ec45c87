"""Account deletion (GDPR Art. 17): everything of the user goes; the audit trail survives
without personal data; other services are told through the outbox.

What goes, and how (the GDPR registry, ``mana_auth.gdpr``, lists what is stored; the
completeness test in ``tests/gdpr`` checks that no row still names the user afterwards):

- the user row, and by Django's collector everything with a cascading foreign key to it
  (sessions and refresh tokens, one-time tokens, passkeys, API keys, second factors,
  memberships, sign-in attempts, personas);
- the vault and its audit trail by the database's own ``ON DELETE CASCADE`` (row-level
  security hides them from the collector, not from a referential action);
- what the apps above registered as erasure steps (``mana_auth.gdpr.register_erasure``):
  Spaces' takes the Spaces the user is the only owner of, with their members, invitations,
  overrides and credentials (shared Spaces with another owner stay, ``created_by`` and similar
  become NULL), the invitations addressed to the user's email, and the user's rows in the sync
  store (after commit, through the outbox: it is another database), except their changes
  inside Spaces that live on;
- sign-in attempts, lockout counters and queued mail for the address.

Security events stay, anonymised (no user, no IP address, no user agent).
"""

from __future__ import annotations

from django.db import connection, transaction

from accounts.emails import email_key
from accounts.exceptions import ReauthRequired
from accounts.models import QueuedMail, User
from accounts.outbox import outbox_enqueue_deletion
from accounts.reauth import password_recheck
from accounts.selectors import session_cache_forget
from mana_auth import gdpr
from mana_auth.clientip import RequestMeta
from security.models import EventType, LoginAttempt, LoginThrottle, SecurityEvent
from security.services import security_event_record


def account_delete(
    *, user: User, password: str | None, meta: RequestMeta, actor: User | None = None
) -> None:
    """Delete the account and everything of it. The security trail survives, anonymised."""
    # Checked before the transaction opens, so a wrong password's count survives the refusal.
    if actor is None and not password_recheck(user=user, password=password):
        raise ReauthRequired(message="The password is not correct.")
    user_data_delete(user=user, meta=meta, actor=actor)


@transaction.atomic
def user_data_delete(*, user: User, meta: RequestMeta, actor: User | None = None) -> None:
    user_id = str(user.id)
    address = email_key(user.email)
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
    session_cache_forget(list(user.sessions.values_list("id", flat=True)))
    gdpr.erase(user=user)  # what the apps above must do first (spaces: Spaces, invitations)
    LoginAttempt.objects.filter(email_key=address).delete()
    LoginThrottle.objects.filter(email_key=address).delete()
    QueuedMail.objects.filter(recipient__lower=address).delete()  # links of a closed account
    user.delete()
    outbox_enqueue_deletion(user_id=user_id)
