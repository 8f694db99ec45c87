"""Security notices to the account holder, each with its own "this wasn't me" link.

A notice tells the owner that something changed on their account (a second factor, a passkey,
the password, the address, a replayed refresh token) and carries a one-time link to report it
(``accounts.recovery.compromise_report``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings

from accounts.models import TokenPurpose, User
from accounts.one_time_tokens import one_time_token_issue
from mana_auth.links import page_link
from mana_auth.mail import send_mail


def security_report_link(*, user: User) -> str:
    """A one-time link for a security notice: "this wasn't me" (``compromise_report``).

    Every notice gets its own; each works once, within ``SECURITY_REPORT_TTL_DAYS``.
    """
    token = one_time_token_issue(
        user=user,
        purpose=TokenPurpose.REPORT_COMPROMISE,
        ttl=timedelta(days=settings.SECURITY_REPORT_TTL_DAYS),
    )
    return page_link("/report-compromise", token=token)


def factor_change_notify(*, user: User, what: Mapping[str, str]) -> None:
    """Mail the owner that a way into the account changed (``what``: the sentence completing
    "… on your Mana account.", per locale). Sent inside the change's transaction: a change
    whose notice cannot be sent does not happen silently."""
    locale = user.locale if user.locale in ("en", "de") else "en"
    send_mail(
        to=user.email,
        name="factor_changed",
        locale=locale,
        kind=user.kind,
        context={
            "name": user.name or user.email,
            "what": what[locale],
            "report_link": security_report_link(user=user),
        },
    )
