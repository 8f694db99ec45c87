"""``/invitations/accept?token=…``: the Space, who invited, the role; Accept or Decline.

Signed in (the SSO cookie) as the invited address: Accept / Decline, through the same services
as ``POST /api/v1/invitations/accept|decline``. Signed in as someone else: it says so, and
tells that person nothing the link does not already show. Signed out: sign in (or create the
account) and come back here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext

from accounts.pages.base import PageView, speak
from accounts.pages.errors import error_message, page_status, retry_headers
from accounts.pages.forms import TokenForm
from mana_auth.errors import AuthError
from spaces.pages.selectors import InvitationPreview, invitation_preview
from spaces.services.invitations import invitation_accept, invitation_decline

_REFUSALS = frozenset(
    {"FORBIDDEN", "EMAIL_NOT_VERIFIED", "RATE_LIMITED", "SERVICE_UNAVAILABLE", "CONFLICT"}
)


class InvitationView(PageView):
    def _context(
        self, request: HttpRequest, token: str, preview: InvitationPreview
    ) -> dict[str, Any]:
        here = f"{reverse('spaces_pages:invitation')}?{urlencode({'token': token})}"
        session = self.signed_in(request)
        if session is None:
            speak(preview.locale)
        return {
            "invitation": preview,
            "account": session.user if session is not None else None,
            "invited": session is not None and preview.is_for(session.user),
            "form": TokenForm(initial={"token": token}),
            "come_back": urlencode({"next": here}),
        }

    def _gone(self, request: HttpRequest) -> HttpResponse:
        self.signed_in(request)  # speak the account's language when signed in
        return self.page(request, "invitation.html", {"invitation": None}, status=400)

    def get(self, request: HttpRequest) -> HttpResponse:
        token = request.GET.get("token", "")
        preview = self.call(invitation_preview, token=token)
        if preview is None:
            return self._gone(request)
        return self.page(request, "invitation.html", self._context(request, token, preview))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TokenForm(request.POST)
        token = request.POST.get("token", "")
        preview = self.call(invitation_preview, token=token) if form.is_valid() else None
        if preview is None:
            return self._gone(request)
        context = self._context(request, token, preview)
        account = context["account"]
        if account is None:  # signed out since the page was shown
            return self.page(request, "invitation.html", context, status=403)
        service = (
            invitation_decline if request.POST.get("action") == "decline" else invitation_accept
        )
        try:
            self.call(service, user=account, token=token, meta=self.meta(request))
        except AuthError as exc:
            if exc.code == "VERIFICATION_TOKEN_INVALID":
                return self._gone(request)
            if exc.code not in _REFUSALS:
                raise
            context["error"] = (
                gettext("This invitation was sent to a different address.")
                if exc.code == "FORBIDDEN"
                else error_message(exc)
            )
            return self.page(
                request,
                "invitation.html",
                context,
                status=page_status(exc),
                headers=retry_headers(exc),
            )
        answered = "declined" if service is invitation_decline else "accepted"
        return self.page(
            request, "invitation_done.html", {"answered": answered, "invitation": preview}
        )
