"""``mana_auth.sqlbatch.insert_together``: rows of several models in one statement, all or none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import RefreshToken, Session
from mana_auth.sqlbatch import insert_together
from security.models import SecurityEvent

pytestmark = pytest.mark.django_db


def _rows(user):
    now = timezone.now()
    session = Session(user=user, cookie_hash="c" * 64, expires_at=now + timedelta(days=1))
    token = RefreshToken(
        token_hash="t" * 64, session=session, created_at=now, expires_at=now + timedelta(days=1)
    )
    event = SecurityEvent(type="LOGIN_SUCCESS", user=user, metadata={"method": "test"})
    return session, token, event


def test_a_parent_and_its_children_in_one_statement(user_factory):
    from django.db import connection

    user = user_factory()
    session, token, event = _rows(user)
    with CaptureQueriesContext(connection) as captured:
        insert_together(session, token, event)
    assert len(captured.captured_queries) == 1
    assert Session.objects.get(pk=session.pk).cookie_hash == "c" * 64
    assert RefreshToken.objects.get(pk="t" * 64).session_id == session.pk
    assert SecurityEvent.objects.get(pk=event.pk).metadata == {"method": "test"}
    assert not session._state.adding


def test_one_failing_row_writes_none(user_factory):
    user = user_factory()
    first, token, _ = _rows(user)
    insert_together(first, token)
    session = Session(user=user, cookie_hash="d" * 64, expires_at=first.expires_at)
    clash = RefreshToken(  # the same token hash: the primary key refuses it
        token_hash="t" * 64,
        session=session,
        created_at=token.created_at,
        expires_at=token.expires_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_together(session, clash)
    assert not Session.objects.filter(cookie_hash="d" * 64).exists()


def test_rows_need_their_primary_key(user_factory):
    user = user_factory()
    session, token, _ = _rows(user)
    token.token_hash = None  # a natural key: nothing would fill it
    with pytest.raises(ValueError, match="primary key"):
        insert_together(session, token)
    assert not Session.objects.filter(pk=session.pk).exists()


def test_an_automatic_key_is_left_to_its_sequence(user_factory):
    """A login attempt (``BigAutoField``) goes in with its siblings; its id comes from the
    sequence and is not read back."""
    from django.db import connection

    from security.models import LoginAttempt

    user = user_factory()
    session, token, event = _rows(user)
    attempt = LoginAttempt(email_key=user.email_key, user=user, method="password", success=True)
    with CaptureQueriesContext(connection) as captured:
        insert_together(session, token, attempt, event)
    assert len(captured.captured_queries) == 1
    assert attempt.pk is None
    row = LoginAttempt.objects.get(user=user)
    assert (row.method, row.success, row.id > 0) == ("password", True, True)


def test_rows_go_in_only_when_the_guard_matches(user_factory):
    """``only_if``: the conditional write runs first in the same statement; when it matches
    nothing, nothing is written (the passkey counter and the sign-in)."""
    user = user_factory()
    guard = "UPDATE accounts_user SET name = %s WHERE id = %s AND name = %s RETURNING id"
    session, token, event = _rows(user)
    event.ip_address = None  # a NULL of a typed column still goes in
    assert insert_together(session, token, event, only_if=(guard, ["new", user.pk, user.name]))
    assert Session.objects.filter(pk=session.pk).exists()
    user.refresh_from_db()
    missed = Session(user=user, cookie_hash="e" * 64, expires_at=session.expires_at)
    assert not insert_together(missed, only_if=(guard, ["other", user.pk, "not " + user.name]))
    assert not Session.objects.filter(pk=missed.pk).exists()
    assert missed._state.adding
