"""Accounts API views: thin — parse, call one service, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
    JsonResponse,
)
from django.views import View
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import (
    deletion,
    passwords,
    profile,
    recovery,
    registration,
    selectors,
    sessions,
    signing_keys,
)
from accounts.api import serializers as s
from accounts.api.responses import auth_context, token_pair_body
from accounts.api_keys import ApiKeyAuthentication, ApiKeyContext, ApiKeyScopePermission
from accounts.authentication import (
    BearerTokenAuthentication,
    SessionCookieAuthentication,
    authenticate_bearer_or_cookie,
)
from accounts.cookies import (
    retired_signup_cookie_clear,
    session_cookie_clear,
    signup_cookie_clear,
    signup_cookie_read,
    signup_cookie_set,
    signup_cookie_value,
)
from accounts.emails import normalize_email
from mana_auth.api import (
    AuthenticatedView,
    DeleteWithBodySchema,
    ErrorSerializer,
    PublicView,
    meta,
    parse,
)
from mana_auth.clientip import RequestMeta
from mana_auth.errors import AuthError, Forbidden
from mana_auth.fastview import FastAPIView, read_json_object, required_string
from mana_auth.links import trusted_callback

ERRORS = {code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 404, 409, 429, 503)}


class JwksView(View):
    """Public keys, pre-serialised; cacheable, with an ETag."""

    def get(self, request: HttpRequest) -> HttpResponse:
        body, etag = signing_keys.jwks_document()
        if request.headers.get("If-None-Match") == etag:
            response: HttpResponse = HttpResponseNotModified()
        else:
            response = HttpResponse(body, content_type="application/jwk-set+json")
        response["ETag"] = etag
        response["Cache-Control"] = "public, max-age=300, stale-while-revalidate=60"
        return response


# --- Registration and verification ------------------------------------------------------------


class RegisterView(PublicView):
    @extend_schema(
        request=s.RegisterInputSerializer,
        responses={201: s.RegisterOutputSerializer, **ERRORS},
        summary="Sign up (enumeration-safe)",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.RegisterInputSerializer, request.data)
        secret = registration.sign_up(
            email=data["email"],
            password=data["password"],
            name=data["name"],
            locale=data["locale"],
            meta=meta(request),
            callback_url=data["callbackURL"],
        )
        response = Response(
            {"status": "verification_sent", "email": normalize_email(data["email"])},
            status=status.HTTP_201_CREATED,
        )
        signup_cookie_set(response, signup_cookie_value(request, secret))
        return response


class SignupStatusView(PublicView):
    @extend_schema(responses={200: s.SignupStatusOutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(s.SignupStatusOutputSerializer(registration.signup_status()).data)


class VerifyEmailView(PublicView):
    @extend_schema(
        parameters=[s.VerifyEmailQuerySerializer],
        responses={302: None, **ERRORS},
        summary="Verify from the mail link, then redirect (trusted origins only)",
        description="Redirects to `callbackURL` when it is on a trusted origin, else to the "
        "verification page (`DEFAULT_REDIRECT_URL`, by default `{PUBLIC_PAGES_URL}/verify-email`"
        "), adding `status`: `verified`, `password_removed`, `email_changed`, or `invalid` "
        "(with `reason=used|expired` when known). A first verification outside the browser "
        "that signed up verifies nothing yet: it always goes to the verification page with "
        "`status=password_required`, the `token` and the trusted `callbackURL`, which the page "
        "follows once answered. A change-of-address link changes nothing on GET (mail scanners "
        "fetch links): it goes to the verification page with `status=confirm_required` and the "
        "`token`, whose button confirms with `POST verify-email {token}`.",
    )
    def get(self, request: Request) -> HttpResponse:
        callback = trusted_callback(request.query_params.get("callbackURL", ""))
        target = callback or settings.DEFAULT_REDIRECT_URL
        token = request.query_params.get("token", "")
        query: dict[str, str] = {}
        if selectors.change_email_link_live(token=token):
            # A change of address is confirmed only by the page's button (POST verify-email):
            # mail scanners and link previews fetch links, and their GET must not move the
            # account to the new address without the person's click. Nothing is used up.
            outcome, query = "confirm_required", {"token": token}
            target = settings.DEFAULT_REDIRECT_URL
            if callback:
                query["callbackURL"] = callback
        else:
            outcome, query, target = self._verify(request, token, callback, target)
        separator = "&" if "?" in target else "?"
        response = HttpResponseRedirect(
            f"{target}{separator}{urlencode({'status': outcome, **query})}"
        )
        if outcome in ("verified", "password_removed"):
            signup_cookie_clear(response)
        retired_signup_cookie_clear(request, response)
        return response

    @staticmethod
    def _verify(
        request: Request, token: str, callback: str, target: str
    ) -> tuple[str, dict[str, str], str]:
        """A sign-up verification link: ``(status, query, where to)`` of the redirect."""
        query: dict[str, str] = {}
        try:
            outcome, _ = registration.verify_token_any(
                token=token,
                meta=meta(request),
                signup_secret=signup_cookie_read(request),
            )
        except AuthError as exc:
            if exc.code == "REAUTH_REQUIRED":
                # A first verification outside the browser that signed up: nothing is used
                # up (a mail scanner's GET changes nothing); the verification page asks for
                # the sign-up password or offers to confirm without it (POST verify-email),
                # then goes on to the callback.
                outcome, query = "password_required", {"token": token}
                target = settings.DEFAULT_REDIRECT_URL
                if callback:
                    query["callbackURL"] = callback
            elif exc.code == "VERIFICATION_TOKEN_INVALID":
                outcome = "invalid"
                reason = selectors.verification_link_state(token=token)
                if reason in ("used", "expired"):
                    query = {"reason": reason}
            else:
                raise
        return outcome, query, target

    @extend_schema(
        request=s.VerifyEmailInputSerializer,
        responses={200: s.VerifiedOutputSerializer, **ERRORS},
        summary="Verify with the token from the mail",
        description="The first verification of an account keeps its sign-up password only "
        "when the request comes from the browser that signed up or carries `password`; "
        "otherwise it answers 401 REAUTH_REQUIRED with `details.passwordRequired` and uses "
        "nothing up, unless `withoutPassword` is true (the password, sessions and factors of "
        "the account are then removed and a link to choose a password is mailed).",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.VerifyEmailInputSerializer, request.data)
        _, verification = registration.verify_token_any(
            token=data["token"],
            meta=meta(request),
            signup_secret=signup_cookie_read(request),
            password=data["password"] or None,
            without_password=data["withoutPassword"],
        )
        response = Response({"verified": True, "passwordRemoved": verification.password_removed})
        signup_cookie_clear(response)
        retired_signup_cookie_clear(request, response)
        return response


class ResendVerificationView(PublicView):
    @extend_schema(
        request=s.EmailInputSerializer, responses={202: s.AcceptedOutputSerializer, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        data = parse(s.EmailInputSerializer, request.data)
        registration.verification_resend(
            email=data["email"],
            meta=meta(request),
            callback_url=data["callbackURL"],
            device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
        )
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


# --- Sign-in and tokens -----------------------------------------------------------------------


# The three hottest endpoints run on FastAPIView (mana_auth/fastview.py): same contract and
# envelope, without DRF's per-request machinery, which cost more than the token check itself.


class RefreshView(FastAPIView):
    @extend_schema(
        request=s.RefreshInputSerializer, responses={200: s.TokenPairOutputSerializer, **ERRORS}
    )
    def post(self, request: HttpRequest) -> HttpResponse:
        token = required_string(read_json_object(request), "refreshToken")
        _, pair = sessions.session_refresh(
            refresh_token=token, meta=RequestMeta.from_request(request)
        )
        return JsonResponse(token_pair_body(pair))


class ValidateView(FastAPIView):
    @extend_schema(request=s.TokenInputSerializer, responses={200: s.ValidateOutputSerializer})
    def post(self, request: HttpRequest) -> HttpResponse:
        token = required_string(read_json_object(request), "token")
        try:
            claims = selectors.access_token_claims(token)
        except AuthError as exc:
            if exc.code not in ("TOKEN_INVALID", "TOKEN_EXPIRED"):
                raise
            return JsonResponse({"valid": False, "code": exc.code})
        try:
            live = selectors.session_is_live(claims)
        except AuthError as exc:
            if exc.code != "TOKEN_INVALID":  # a signed token with a malformed sid
                raise
            return JsonResponse({"valid": False, "code": exc.code})
        if not live:
            return JsonResponse({"valid": False, "code": "SESSION_REVOKED"})
        return JsonResponse({"valid": True, "claims": claims})


class CookieOrBearerView(AuthenticatedView):
    authentication_classes = [BearerTokenAuthentication, SessionCookieAuthentication]


class LogoutView(CookieOrBearerView):
    @extend_schema(request=None, responses={204: None, **ERRORS})
    def post(self, request: Request) -> Response:
        context = auth_context(request)
        sessions.session_revoke(user=request.user, session=context.session, meta=meta(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        session_cookie_clear(response)
        return response


class SessionView(FastAPIView):
    # Read by the OpenAPI generator; dispatch authenticates with the same two classes.
    authentication_classes = [BearerTokenAuthentication, SessionCookieAuthentication]

    @extend_schema(responses={200: s.SessionInfoOutputSerializer, **ERRORS})
    def get(self, request: HttpRequest) -> HttpResponse:
        user, context = authenticate_bearer_or_cookie(request)
        return JsonResponse({"user": s.user_data(user), "session": s.session_data(context.session)})


class SessionToTokenView(AuthenticatedView):
    authentication_classes = [SessionCookieAuthentication]

    @extend_schema(request=None, responses={200: s.TokenPairOutputSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        pair = sessions.session_to_token(session=auth_context(request).session)
        return Response(token_pair_body(pair))


class SessionsView(AuthenticatedView):
    @extend_schema(responses={200: s.SessionListOutputSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        current = auth_context(request).session.id
        sessions = selectors.sessions_live_for_user(user=request.user)
        return Response(
            {"items": [s.session_data(item, current=item.id == current) for item in sessions]}
        )


class SessionRevokeView(AuthenticatedView):
    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get_for_user(user=request.user, session_id=session_id)
        sessions.session_revoke(
            user=request.user, session=session, meta=meta(request), reason="revoked_by_user"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionsRevokeOthersView(AuthenticatedView):
    @extend_schema(request=None, responses={200: s.RevokedOutputSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        count = sessions.sessions_revoke_all(
            user=request.user,
            meta=meta(request),
            reason="revoked_by_user",
            keep=auth_context(request).session,
        )
        return Response({"revoked": count})


# --- Password and profile ---------------------------------------------------------------------


class ForgotPasswordView(PublicView):
    @extend_schema(
        request=s.EmailInputSerializer, responses={202: s.AcceptedOutputSerializer, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        data = parse(s.EmailInputSerializer, request.data)
        passwords.password_forgot(
            email=data["email"],
            meta=meta(request),
            callback_url=data["callbackURL"],
            device_cookie=request.COOKIES.get(settings.DEVICE_COOKIE_NAME),
        )
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class ResetPasswordView(PublicView):
    @extend_schema(
        request=s.ResetPasswordInputSerializer,
        responses={200: s.ResetPasswordOutputSerializer, **ERRORS},
        summary="Set a new password from a reset link",
        description="Every session ends and every outstanding link of the account dies. With "
        '`revokeFactors`, after a "this wasn\'t me" report, or when the link is the first '
        "proof of the address, every passkey, API key, the authenticator and the backup codes "
        "are revoked too (`factorsRevoked`, `revoked`, `reason`).",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.ResetPasswordInputSerializer, request.data)
        result = recovery.password_reset(
            token=data["token"],
            new_password=data["newPassword"],
            meta=meta(request),
            revoke_factors=data["revokeFactors"],
        )
        return Response(
            {
                "ok": True,
                "factorsRevoked": result.revoked is not None,
                "revoked": result.revoked.as_api() if result.revoked is not None else None,
                "reason": result.reason,
            }
        )


class ResetPasswordPreviewView(PublicView):
    @extend_schema(
        request=s.TokenInputSerializer,
        responses={200: s.ResetPasswordPreviewOutputSerializer, **ERRORS},
        summary="What a reset link's page lists, without using the link",
        description="The account's passkeys, API keys and 2FA state, for the reset page's "
        '"revoke them all" choice. `claimWipes`: the address was never verified, so the reset '
        "is an address claim that also deletes the account's Spaces (and their data), its sync "
        "data and its encryption vault — the page must say so before the password is chosen. "
        "The token stays usable.",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.TokenInputSerializer, request.data)
        preview = recovery.password_reset_preview(token=data["token"])
        return Response(
            {
                "email": preview.user.email,
                **preview.factors.as_api(),
                "compromiseReported": preview.compromise_reported,
                "revokesFactors": preview.revokes_factors,
                "claimWipes": preview.claim_wipes,
            }
        )


class ReportCompromiseView(PublicView):
    @extend_schema(
        request=s.TokenInputSerializer,
        responses={200: s.CompromiseReportOutputSerializer, **ERRORS},
        summary='"This wasn\'t me": the link from a security notice',
        description="Signs every session out, removes the password, every passkey and API key, "
        "voids every outstanding link (a pending change of address included) and mails a link "
        "to choose a new password; the reset that follows also removes the authenticator and "
        "the backup codes. The link works once.",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.TokenInputSerializer, request.data)
        report = recovery.compromise_report(token=data["token"], meta=meta(request))
        return Response(
            {
                "reported": True,
                "revoked": {
                    "sessions": report.sessions,
                    "passkeys": report.revoked.passkeys,
                    "apiKeys": report.revoked.api_keys,
                },
            }
        )


class ProfileView(AuthenticatedView):
    # GET also accepts an API key with the ``profile:read`` scope.
    authentication_classes = [BearerTokenAuthentication, ApiKeyAuthentication]
    permission_classes = [IsAuthenticated, ApiKeyScopePermission]
    api_key_scope = "profile:read"

    @extend_schema(responses={200: s.UserOutputSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        return Response(s.user_data(request.user))

    @extend_schema(
        request=s.ProfileInputSerializer, responses={200: s.UserOutputSerializer, **ERRORS}
    )
    def patch(self, request: Request) -> Response:
        if isinstance(request.auth, ApiKeyContext):
            raise Forbidden(message="API keys cannot change the profile.")
        data = parse(s.ProfileInputSerializer, request.data)
        user = profile.profile_update(user=request.user, data=data, meta=meta(request))
        return Response(s.user_data(user))


class OnboardingCompleteView(AuthenticatedView):
    @extend_schema(
        request=None,
        responses={200: s.UserOutputSerializer, **ERRORS},
        summary="Mark my onboarding finished (once; again: the first time, unchanged)",
    )
    def post(self, request: Request) -> Response:
        user = profile.onboarding_complete(user=request.user, meta=meta(request))
        return Response(s.user_data(user))


class ChangeEmailView(AuthenticatedView):
    @extend_schema(
        request=s.ChangeEmailInputSerializer, responses={202: s.AcceptedOutputSerializer, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        data = parse(s.ChangeEmailInputSerializer, request.data)
        profile.email_change_request(
            user=request.user,
            new_email=data["newEmail"],
            password=data["password"],
            meta=meta(request),
        )
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class ChangePasswordView(AuthenticatedView):
    @extend_schema(
        request=s.ChangePasswordInputSerializer, responses={200: s.OkOutputSerializer, **ERRORS}
    )
    def post(self, request: Request) -> Response:
        data = parse(s.ChangePasswordInputSerializer, request.data)
        passwords.password_change(
            user=request.user,
            session=auth_context(request).session,
            current_password=data["currentPassword"],
            new_password=data["newPassword"],
            meta=meta(request),
        )
        return Response({"ok": True})


class AccountDeleteView(AuthenticatedView):
    schema = DeleteWithBodySchema()

    @extend_schema(request=s.PasswordInputSerializer, responses={204: None, **ERRORS})
    def delete(self, request: Request) -> Response:
        data = parse(s.PasswordInputSerializer, request.data)
        deletion.account_delete(user=request.user, password=data["password"], meta=meta(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        session_cookie_clear(response)
        return response
