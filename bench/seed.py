"""Seed the bench database in-process (same environment as the server).

Creates verified users through the registration service and sessions through
``session_start``, and writes what the load needs (emails, the password, token pools) as JSON
to a private file. Every secret here is a throwaway of this run.

    python -m bench.seed --out FILE [--users 32] [--refresh-sets 4] [--passkey-users 16]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from typing import Any

ROUTES = {
    "validate": "/api/v1/auth/validate",
    "session": "/api/v1/auth/session",
    "jwks": "/.well-known/jwks.json",
    "refresh": "/api/v1/auth/refresh",
    "login": "/api/v1/auth/login",
    "passkey": "/api/v1/auth/passkeys/authenticate/verify",
    "passkey_options": "/api/v1/auth/passkeys/authenticate/options",
    "passkey_register": "/api/v1/auth/passkeys/register/verify",
    "spaces": "/api/v1/spaces",
    "access": "/api/v1/spaces/00000000-0000-0000-0000-000000000000/access",
    "ceiling": "/health",
}


def routes_present() -> dict[str, bool]:
    from django.urls import Resolver404, resolve

    present = {}
    for key, path in ROUTES.items():
        try:
            resolve(path)
            present[key] = True
        except Resolver404:
            present[key] = False
    return present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--refresh-sets", type=int, default=4)
    parser.add_argument("--passkey-users", type=int, default=16)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mana_auth.settings")
    import django

    django.setup()
    from django.utils import timezone

    from accounts import registration, signing_keys
    from accounts.models import User
    from accounts.signin import session as signin_session
    from mana_auth.clientip import RequestMeta

    run = secrets.token_hex(4)
    password = "bench-" + secrets.token_urlsafe(18)
    meta = RequestMeta(ip="127.0.0.1", user_agent="mana-auth-bench/seed")
    signing_keys.active_signing_key()  # the first signing key, before any worker races for it

    def user_make(label: str, index: int) -> Any:
        user, _ = registration.user_register(
            email=f"bench-{label}-{index}-{run}@example.com",
            password=password,
            name=f"Bench {label} {index}",
            meta=meta,
            send_verification=False,
        )
        User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())
        return user

    def tokens(user: Any) -> Any:
        return signin_session.session_start(user=user, meta=meta, method="password").tokens

    users = [user_make("user", i) for i in range(args.users)]
    passkey_users = [user_make("passkey", i) for i in range(args.passkey_users)]
    data = {
        "password": password,
        "emails": [user.email for user in users],
        "access_tokens": [tokens(user).access_token for user in users],
        "refresh_sets": [
            [tokens(user).refresh_token for user in users] for _ in range(args.refresh_sets)
        ],
        "smoke_refresh": tokens(users[0]).refresh_token,
        "passkey_users": [
            {"email": user.email, "access_token": tokens(user).access_token}
            for user in passkey_users
        ],
        "routes": routes_present(),
    }
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
