"""Re-authentication for sensitive actions: one check, used by every such endpoint.

A sensitive action needs the current password in the request, or a sign-in (password or
passkey) on this session within ``REAUTH_WINDOW_SECONDS``; otherwise 401 REAUTH_REQUIRED.
"""

from __future__ import annotations

from rest_framework.request import Request

from accounts.authentication import AuthContext
from accounts.services import reauth_require


def reauth_check(request: Request, password: str | None = None) -> None:
    """Raise REAUTH_REQUIRED unless ``password`` is right or the session's sign-in is fresh."""
    context = request.auth
    session = context.session if isinstance(context, AuthContext) else None
    reauth_require(user=request.user, session=session, password=password)
