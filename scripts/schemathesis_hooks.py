"""schemathesis hooks for scripts/schemathesis.sh: who each request is, and real targets.

Loaded through ``SCHEMATHESIS_HOOKS``. Reads ``FUZZ_TARGETS`` (what ``manage.py fuzz_seed``
wrote), ``FUZZ_BASE_URL`` (the server under test) and ``FUZZ_MAIL_DIR`` (where the server's file
mail backend writes, so links that only reach an inbox can be followed).

Three things happen to every case before it is sent (``before_call``):

1. **Identity.** ``/internal/`` operations carry ``X-Service-Key``, ``/admin/`` ones an
   operator's bearer token, ``session-to-token`` an SSO cookie, and every other operation that
   declares a security scheme a seeded user's bearer token (positive cases also carry that
   user's password wherever the body has one). Operations that end a session or an account
   (logout, change-password, account and data deletion) run as throwaway accounts, so the
   seeded user stays signed in for the whole run.
2. **Ids.** Positive cases get the ids of real objects for their path parameters (the user's
   Space, a member, a passkey, a persona, …); negative cases keep what was generated. No case
   can name a seeded object in an operation that destroys its target: schemathesis reuses ids
   it saw in responses, and a DELETE of the run's own user would end the run's usefulness.
3. **Real cases.** In each phase, the first and then every ``GOLDEN_EVERY``-th positive case of
   an operation that needs one gets what only a real client has: a password, a token from a
   mail, a WebAuthn assertion, the id of an object made for it just now (so a DELETE never eats
   what other operations need). The others keep their generated values, so the lookups of
   unknown tokens are fuzzed too. Everything a real case sends still matches the schema: it
   counts as a positive case, and schemathesis sees the operation serve valid data.

With ``FUZZ_LOG`` set, every response is logged as a JSON line (operation, phase, mode, status,
code) for working out why an operation is refused.
"""

from __future__ import annotations

import ast
import atexit
import base64
import email
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import requests
import schemathesis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.passkeys.authenticator import SoftAuthenticator

# CPython 3.11 keeps ast.parse's recursion counter per interpreter, not per thread: two
# schemathesis workers describing hypothesis strategies at once fail with "AST constructor
# recursion depth mismatch" (python/cpython#106905). One parse at a time.
_ast_lock = threading.Lock()
_ast_parse = ast.parse


def _serialized_parse(*args: Any, **kwargs: Any) -> Any:
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _serialized_parse  # type: ignore[assignment]

TARGETS: dict[str, Any] = json.loads(Path(os.environ["FUZZ_TARGETS"]).read_text())
BASE_URL = os.environ["FUZZ_BASE_URL"].rstrip("/")
MAIL_DIR = Path(os.environ["FUZZ_MAIL_DIR"])
SERVICE_KEY = os.environ["MANA_SERVICE_KEY"]
LOG_PATH = os.environ.get("FUZZ_LOG")
GOLDEN_EVERY = 2
PASSWORD = TARGETS["password"]
ACCOUNTS = TARGETS["accounts"]
API = "/api/v1"

_lock = threading.RLock()
_positive_counts: Counter[tuple[str, str]] = Counter()
_skipped: Counter[str] = Counter()
_pools: dict[str, list[Any]] = {name: list(values) for name, values in TARGETS["pools"].items()}


class SetupFailed(RuntimeError):
    """A preparatory request was refused (4xx): the fuzzing got in between; skip the case."""


class ServerFault(RuntimeError):
    """A preparatory request got a 5xx: a bug, reported as the hook's error."""


# --- Talking to the service ----------------------------------------------------------------------


def call(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    expect: tuple[int, ...] = (200, 201, 202, 204),
    **kwargs: Any,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(
        method, f"{BASE_URL}{path}", json=body, headers=headers, timeout=30, **kwargs
    )
    if response.status_code not in expect:
        failure = ServerFault if response.status_code >= 500 else SetupFailed
        raise failure(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return response


def sign_in(email_address: str, password: str = PASSWORD) -> dict[str, Any]:
    return call(
        "POST", f"{API}/auth/login", body={"email": email_address, "password": password}
    ).json()


def session_id(access_token: str) -> str:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def _mail_texts(path: Path) -> list[tuple[str, str]]:
    """(recipient, text) of every message a file-backend log file holds."""
    messages = []
    for chunk in path.read_bytes().split(b"-" * 79 + b"\n"):
        if not chunk.strip():
            continue
        message = email.message_from_bytes(chunk)
        parts = [
            part.get_payload(decode=True) or b""
            for part in message.walk()
            if part.get_content_type() == "text/plain"
        ]
        messages.append((message.get("To", ""), b"".join(parts).decode(errors="replace")))
    return messages


def mailed_token(to: str, since: float, timeout: float = 5.0) -> str:
    """The ``token=`` of the newest mail to ``to`` written after ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(
            (path for path in MAIL_DIR.glob("*.log") if path.stat().st_mtime >= since - 1),
            key=lambda path: path.stat().st_mtime,
            reverse=True,
        )
        for path in files:
            for recipient, text in reversed(_mail_texts(path)):
                found = re.search(r"token=([A-Za-z0-9_\-]+)", text)
                if to in recipient and found:
                    return found.group(1)
        time.sleep(0.1)
    raise SetupFailed(f"no mail with a token reached {to}")


def take(pool: str) -> Any:
    """The next unused entry of a seeded pool (None when the run has used them all)."""
    with _lock:
        return _pools[pool].pop(0) if _pools[pool] else None


# --- What the run prepares once, through the API -------------------------------------------------

USER = ACCOUNTS["user"]
ADMIN = ACCOUNTS["admin"]
OTHER = ACCOUNTS["other"]
call("POST", f"{API}/me/encryption-vault/init", token=USER["token"])
RECOVERY_WRAP = {
    "recoveryWrappedMk": base64.b64encode(secrets.token_bytes(48)).decode(),
    "recoveryIv": base64.b64encode(secrets.token_bytes(12)).decode(),
}
call("POST", f"{API}/me/encryption-vault/recovery-wrap", token=USER["token"], body=RECOVERY_WRAP)
# Zero-knowledge mode is toggled on an account of its own: while it is on, the user's grants and
# rotations would all answer 409.
ZK = ACCOUNTS["zk"]
ZK_MASTER_KEY = call("POST", f"{API}/me/encryption-vault/init", token=ZK["token"]).json()[
    "masterKey"
]
SPACE = TARGETS["space"]
CREDENTIAL = call(
    "POST",
    f"{API}/spaces/{SPACE}/credentials",
    token=USER["token"],
    body={"kind": "smtp", "name": "Fuzz SMTP", "value": "fuzz-secret"},
).json()["id"]
INVITATION = call(
    "POST",
    f"{API}/spaces/{SPACE}/invitations",
    token=USER["token"],
    body={"email": f"invitee-{TARGETS['run']}@example.com", "role": "member"},
).json()["id"]
API_KEY = call(
    "POST",
    f"{API}/me/api-keys",
    token=USER["token"],
    body={"name": "fuzz", "scopes": ["profile:read"]},
).json()
PERSONA = call(
    "POST",
    f"{API}/admin/personas",
    token=ADMIN["token"],
    body={
        "email": f"fuzz-{TARGETS['run']}@mana.test",
        "name": "Fuzz Persona",
        "archetype": "solo-dev",
        "systemPrompt": "You fuzz.",
        "moduleMix": {"todo": 1.0},
        "tickCadence": "daily",
    },
).json()["id"]
_enrol = call("POST", f"{API}/me/mfa/totp/setup", token=ACCOUNTS["mfa"]["token"], body={}).json()
MFA_BACKUP_CODES: list[str] = call(
    "POST",
    f"{API}/me/mfa/totp/confirm",
    token=ACCOUNTS["mfa"]["token"],
    body={"code": pyotp.TOTP(_enrol["secret"]).now()},
).json()["backupCodes"]


def register_passkey(token: str) -> tuple[SoftAuthenticator, dict[str, Any]]:
    options = call("POST", f"{API}/auth/passkeys/register/options", token=token, body={}).json()
    device = SoftAuthenticator()
    passkey = call(
        "POST",
        f"{API}/auth/passkeys/register/verify",
        token=token,
        body={"credential": device.create(options), "name": "fuzz"},
    ).json()
    return device, passkey


PASSKEY_DEVICE, _ = register_passkey(ACCOUNTS["passkey"]["token"])
_, USER_PASSKEY = register_passkey(USER["token"])


# --- Identities ----------------------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _throwaway_session() -> dict[str, str]:
    """A fresh session of the bystander: logging out ends only that one."""
    try:
        return _bearer(sign_in(ACCOUNTS["bystander"]["email"])["accessToken"])
    except SetupFailed:
        with _lock:
            _skipped["POST /api/v1/auth/logout"] += 1
        return {}


# Operations that end the caller's session or account: a throwaway account per call.
SELF_DESTRUCTIVE = {
    "POST /api/v1/auth/change-password",
    "DELETE /api/v1/auth/account",
    "DELETE /api/v1/me/data",
}


def identity(case: Any) -> dict[str, str]:
    operation = case.operation
    label = f"{operation.method.upper()} {operation.path}"
    if operation.path.startswith(f"{API}/internal/"):
        return {"X-Service-Key": SERVICE_KEY}
    if operation.path.startswith(f"{API}/admin/"):
        return _bearer(ADMIN["token"])
    if label == "POST /api/v1/auth/session-to-token":
        return {"Cookie": f"mana.session_token={ACCOUNTS['cookie']['cookie']}"}
    if label == "POST /api/v1/auth/logout":
        return _throwaway_session()
    if label == "POST /api/v1/me/encryption-vault/zero-knowledge":
        return _bearer(ZK["token"])
    if label == "POST /api/v1/me/api-keys":
        # An account may hold 50 active keys; the fuzzing fills another account's, so the
        # user can still make the keys its real cases delete.
        return _bearer(ACCOUNTS["keys"]["token"])
    if label in SELF_DESTRUCTIVE:
        return {}  # the golden case signs a pool account in; other cases stay anonymous
    if operation.definition.raw.get("security") in (None, [{}]):
        return {}
    return _bearer(USER["token"])


# Accounts whose password positive cases send wherever a body asks for one.
SEEDED_BEARERS = {
    _bearer(account["token"])["Authorization"] for account in (USER, ZK, ACCOUNTS["keys"])
}


# --- Path parameters of positive cases -----------------------------------------------------------

# Parameters named the same everywhere: the user's Space, a member of it, the persona.
DEFAULT_IDS = {
    "space_id": SPACE,
    "org_id": SPACE,
    "user_id": TARGETS["member"],
    "persona_id": PERSONA,
}
# Where a path needs more than that.
PATH_IDS: dict[str, dict[str, str]] = {
    "/api/v1/internal/spaces/{space_id}/credentials/{credential_id}": {"credential_id": CREDENTIAL},
    "/api/v1/auth/passkeys/{passkey_id}": {"passkey_id": USER_PASSKEY["id"]},
}
# Operations whose target is consumed: only their golden cases get a real one.
CONSUMING = {
    "DELETE /api/v1/spaces/{space_id}",
    "POST /api/v1/spaces/{space_id}/leave",
    "DELETE /api/v1/spaces/{space_id}/members/{user_id}",
    "DELETE /api/v1/spaces/{space_id}/credentials/{credential_id}",
    "DELETE /api/v1/spaces/{space_id}/invitations/{invitation_id}",
    "DELETE /api/v1/auth/passkeys/{passkey_id}",
    "DELETE /api/v1/auth/sessions/{session_id}",
    "DELETE /api/v1/me/api-keys/{key_id}",
    "DELETE /api/v1/admin/users/{user_id}/data",
    "DELETE /api/v1/admin/personas/{persona_id}",
}
# Operations that harm a user's standing without deleting anything.
HARMFUL = {
    "POST /api/v1/admin/users/{user_id}/revoke-sessions",
    "PATCH /api/v1/spaces/{space_id}/members/{user_id}",
}


def _ids_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(v) for key, v in value.items() if key in ("id", "sessionId")}
    if isinstance(value, list):
        return {str(item) for item in value if isinstance(item, str)} | {
            found for item in value for found in _ids_of(item)
        }
    return set()


# Everything the run relies on: a case may not destroy it by naming it.
PROTECTED: set[str] = {
    *(found for account in ACCOUNTS.values() for found in _ids_of(account)),
    *(found for pool in TARGETS["pools"].values() for found in _ids_of(pool)),
    SPACE,
    TARGETS["member"],
    PERSONA,
    CREDENTIAL,
    INVITATION,
    API_KEY["id"],
    USER_PASSKEY["id"],
}


def protect(case: Any, label: str) -> None:
    if label not in CONSUMING and label not in HARMFUL:
        return
    for name, value in (case.path_parameters or {}).items():
        if str(value) in PROTECTED:
            case.path_parameters[name] = str(uuid.uuid4())


def map_ids(case: Any, label: str) -> None:
    if not case.path_parameters or label in CONSUMING:
        return
    ids = {**DEFAULT_IDS, **PATH_IDS.get(case.operation.path, {})}
    for name in case.path_parameters:
        if name in ids:
            case.path_parameters[name] = ids[name]


# --- Real cases ----------------------------------------------------------------------------------


def _set_body(case: Any, **fields: Any) -> None:
    body = dict(case.body) if isinstance(case.body, dict) else {}
    body.update(fields)
    case.body = body


def _strong_password() -> str:
    return f"Fz-{secrets.token_urlsafe(18)}"


def golden_login(case: Any) -> None:
    _set_body(case, email=ACCOUNTS["signin"]["email"], password=PASSWORD)


def golden_refresh(case: Any) -> None:
    _set_body(case, refreshToken=sign_in(ACCOUNTS["signin"]["email"])["refreshToken"])


def _backup_code() -> str:
    with _lock:
        if not MFA_BACKUP_CODES:
            MFA_BACKUP_CODES.extend(
                call(
                    "POST", f"{API}/me/mfa/backup-codes", token=ACCOUNTS["mfa"]["token"], body={}
                ).json()["backupCodes"]
            )
        return MFA_BACKUP_CODES.pop()


def golden_login_mfa(case: Any) -> None:
    response = call(
        "POST",
        f"{API}/auth/login",
        body={"email": ACCOUNTS["mfa"]["email"], "password": PASSWORD},
        expect=(401,),
    )
    _set_body(
        case,
        mfaToken=response.json()["details"]["mfaToken"],
        code=_backup_code(),
        method="backup_code",
    )


def _mailed(path: str, body: dict[str, Any], to: str, token: str | None = None) -> str:
    since = time.time()
    call("POST", f"{API}{path}", body=body, token=token)
    return mailed_token(to, since)


def golden_magic_link(case: Any) -> None:
    address = ACCOUNTS["magic"]["email"]
    _set_body(case, token=_mailed("/auth/magic-link", {"email": address}, address))


def _verification_token() -> str | None:
    address = take("unverified")
    if address is None:
        return None
    return _mailed("/auth/resend-verification", {"email": address}, address)


def golden_verify_email(case: Any) -> None:
    # A first verification outside the signing-up browser needs the sign-up password.
    token = _verification_token()
    if token is not None:
        _set_body(case, token=token, password=PASSWORD)


def golden_verify_email_link(case: Any) -> None:
    token = _verification_token()
    if token is not None:
        case.query = {**(case.query or {}), "token": token}
        case.query.pop("callbackURL", None)


def golden_reset_password(case: Any) -> None:
    address = ACCOUNTS["reset"]["email"]
    token = _mailed("/auth/forgot-password", {"email": address}, address)
    _set_body(case, token=token, newPassword=_strong_password())


def golden_reset_preview(case: Any) -> None:
    address = ACCOUNTS["reset"]["email"]
    _set_body(case, token=_mailed("/auth/forgot-password", {"email": address}, address))


def golden_report_compromise(case: Any) -> None:
    """A "this wasn't me" link from the notice a password change mails (a pool account: the
    report ends its sessions and its password)."""
    account = take("doomed")
    if account is None:
        return
    token = sign_in(account["email"])["accessToken"]
    body = {"currentPassword": PASSWORD, "newPassword": _strong_password()}
    _set_body(case, token=_mailed("/auth/change-password", body, account["email"], token))


def golden_change_email(case: Any) -> None:
    _set_body(case, newEmail=f"fuzz-new-{secrets.token_hex(4)}@example.com", password=PASSWORD)


def _pool_account(case: Any) -> dict[str, Any] | None:
    account = take("doomed")
    if account is not None:
        case.headers = {**(case.headers or {}), **_bearer(sign_in(account["email"])["accessToken"])}
    return account


def golden_change_password(case: Any) -> None:
    if _pool_account(case) is not None:
        _set_body(case, currentPassword=PASSWORD, newPassword=_strong_password())


def golden_delete_account(case: Any) -> None:
    if _pool_account(case) is not None:
        _set_body(case, password=PASSWORD)


def golden_session_delete(case: Any) -> None:
    case.path_parameters["session_id"] = session_id(sign_in(USER["email"])["accessToken"])


def golden_passkey_register(case: Any) -> None:
    options = call(
        "POST", f"{API}/auth/passkeys/register/options", token=USER["token"], body={}
    ).json()
    _set_body(case, credential=SoftAuthenticator().create(options))


def golden_passkey_delete(case: Any) -> None:
    _, passkey = register_passkey(USER["token"])
    case.path_parameters["passkey_id"] = passkey["id"]


def golden_passkey_sign_in(case: Any) -> None:
    options = call(
        "POST",
        f"{API}/auth/passkeys/authenticate/options",
        body={"email": ACCOUNTS["passkey"]["email"]},
    ).json()
    with _lock:
        assertion = PASSKEY_DEVICE.get(options)
    _set_body(case, credential=assertion, ceremonyId=options["ceremonyId"])


def golden_api_key_validate(case: Any) -> None:
    _set_body(case, key=API_KEY["key"])


def golden_api_key_delete(case: Any) -> None:
    created = call(
        "POST",
        f"{API}/me/api-keys",
        token=USER["token"],
        body={"name": "doomed", "scopes": ["profile:read"]},
    ).json()
    case.path_parameters["key_id"] = created["id"]


def golden_space_delete(case: Any) -> None:
    created = call(
        "POST", f"{API}/spaces", token=USER["token"], body={"name": "Doomed", "type": "team"}
    ).json()
    case.path_parameters["space_id"] = created["id"]


def golden_space_leave(case: Any) -> None:
    space = take("leaveSpaces")
    if space is not None:
        case.path_parameters["space_id"] = space


def golden_member_remove(case: Any) -> None:
    member = take("members")
    if member is not None:
        case.path_parameters.update(space_id=SPACE, user_id=member)


def golden_credential_delete(case: Any) -> None:
    created = call(
        "POST",
        f"{API}/spaces/{SPACE}/credentials",
        token=USER["token"],
        body={"kind": "api_key", "name": "Doomed", "value": "doomed-secret"},
    ).json()
    case.path_parameters.update(space_id=SPACE, credential_id=created["id"])


def golden_invitation_delete(case: Any) -> None:
    created = call(
        "POST",
        f"{API}/spaces/{SPACE}/invitations",
        token=USER["token"],
        body={"email": f"doomed-{secrets.token_hex(4)}@example.com"},
    ).json()
    case.path_parameters.update(space_id=SPACE, invitation_id=created["id"])


def _invitation_for_user() -> str:
    """A new Space of another owner inviting the user; the token from the user's mail."""
    space = call(
        "POST", f"{API}/spaces", token=OTHER["token"], body={"name": "Inviting", "type": "club"}
    ).json()["id"]
    return _mailed(
        f"/spaces/{space}/invitations",
        {"email": USER["email"], "role": "member"},
        USER["email"],
        token=OTHER["token"],
    )


def golden_invitation_answer(case: Any) -> None:
    _set_body(case, token=_invitation_for_user())


def golden_admin_data_delete(case: Any) -> None:
    target = take("targets")
    if target is not None:
        case.path_parameters["user_id"] = target


def golden_persona_delete(case: Any) -> None:
    created = call(
        "POST",
        f"{API}/admin/personas",
        token=ADMIN["token"],
        body={
            "email": f"doomed-{secrets.token_hex(4)}@mana.test",
            "name": "Doomed Persona",
            "archetype": "solo-dev",
            "systemPrompt": "You are deleted.",
            "moduleMix": {"todo": 1.0},
            "tickCadence": "weekly",
        },
    ).json()
    case.path_parameters["persona_id"] = created["id"]


def golden_totp_confirm(case: Any) -> None:
    token = USER["token"]
    for _ in range(3):  # the fuzzing may turn TOTP on in between
        call("DELETE", f"{API}/me/mfa/totp", token=token, body={}, expect=(204, 404))
        setup = call("POST", f"{API}/me/mfa/totp/setup", token=token, body={}, expect=(200, 409))
        if setup.status_code == 200:
            _set_body(case, code=pyotp.TOTP(setup.json()["secret"]).now())
            return


def _totp_on(token: str) -> None:
    """Turn the user's authenticator on (the fuzzing turns it off now and then)."""
    if call("GET", f"{API}/me/mfa", token=token).json()["totp"]["enabled"]:
        return
    secret = call("POST", f"{API}/me/mfa/totp/setup", token=token, body={}).json()["secret"]
    call("POST", f"{API}/me/mfa/totp/confirm", token=token, body={"code": pyotp.TOTP(secret).now()})


def golden_module_permissions(case: Any) -> None:
    allowed = call("GET", f"{API}/spaces/{SPACE}/module-permissions", token=USER["token"]).json()[
        "allowedModules"
    ]
    overrides = [{"role": "member", "module": allowed[0], "level": "read"}] if allowed else []
    case.body = {"overrides": overrides}


def golden_with_totp_on(case: Any) -> None:
    _totp_on(USER["token"])


def golden_zero_knowledge(case: Any) -> None:
    token = ZK["token"]
    status = call("GET", f"{API}/me/encryption-vault/status", token=token).json()
    if status["zeroKnowledge"]:
        case.body = {"enable": False, "masterKey": ZK_MASTER_KEY}
    else:
        call("POST", f"{API}/me/encryption-vault/recovery-wrap", token=token, body=RECOVERY_WRAP)
        case.body = {"enable": True}


GOLDEN_CASES: dict[str, Callable[[Any], None]] = {
    "POST /api/v1/auth/login": golden_login,
    "POST /api/v1/auth/refresh": golden_refresh,
    "POST /api/v1/auth/login/mfa": golden_login_mfa,
    "POST /api/v1/auth/magic-link/verify": golden_magic_link,
    "POST /api/v1/auth/verify-email": golden_verify_email,
    "GET /api/v1/auth/verify-email": golden_verify_email_link,
    "POST /api/v1/auth/reset-password": golden_reset_password,
    "POST /api/v1/auth/reset-password/preview": golden_reset_preview,
    "POST /api/v1/auth/report-compromise": golden_report_compromise,
    "POST /api/v1/auth/change-email": golden_change_email,
    "POST /api/v1/auth/change-password": golden_change_password,
    "DELETE /api/v1/auth/account": golden_delete_account,
    "DELETE /api/v1/me/data": golden_delete_account,
    "DELETE /api/v1/auth/sessions/{session_id}": golden_session_delete,
    "POST /api/v1/auth/passkeys/register/verify": golden_passkey_register,
    "DELETE /api/v1/auth/passkeys/{passkey_id}": golden_passkey_delete,
    "POST /api/v1/auth/passkeys/authenticate/verify": golden_passkey_sign_in,
    "POST /api/v1/internal/api-keys/validate": golden_api_key_validate,
    "DELETE /api/v1/me/api-keys/{key_id}": golden_api_key_delete,
    "DELETE /api/v1/spaces/{space_id}": golden_space_delete,
    "POST /api/v1/spaces/{space_id}/leave": golden_space_leave,
    "DELETE /api/v1/spaces/{space_id}/members/{user_id}": golden_member_remove,
    "DELETE /api/v1/spaces/{space_id}/credentials/{credential_id}": golden_credential_delete,
    "DELETE /api/v1/spaces/{space_id}/invitations/{invitation_id}": golden_invitation_delete,
    "POST /api/v1/invitations/accept": golden_invitation_answer,
    "POST /api/v1/invitations/decline": golden_invitation_answer,
    "DELETE /api/v1/admin/users/{user_id}/data": golden_admin_data_delete,
    "DELETE /api/v1/admin/personas/{persona_id}": golden_persona_delete,
    "POST /api/v1/me/mfa/totp/confirm": golden_totp_confirm,
    "POST /api/v1/me/mfa/backup-codes": golden_with_totp_on,
    "PUT /api/v1/spaces/{space_id}/module-permissions": golden_module_permissions,
    "DELETE /api/v1/me/mfa/totp": golden_with_totp_on,
    "POST /api/v1/me/encryption-vault/zero-knowledge": golden_zero_knowledge,
}


def _in_the_past(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment <= datetime.now(UTC) + timedelta(minutes=1)


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.value == "positive"


def _phase(case: Any) -> str:
    return case.meta.phase.name.value if case.meta is not None else "unknown"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    label = f"{case.operation.method.upper()} {case.operation.path}"
    case.headers = {**(case.headers or {}), **identity(case)}
    protect(case, label)
    if not _positive(case):
        return
    map_ids(case, label)
    if (
        isinstance(case.body, dict)
        and "password" in case.body
        and case.headers.get("Authorization") in SEEDED_BEARERS
    ):
        case.body = {**case.body, "password": PASSWORD}
    if isinstance(case.body, dict) and _in_the_past(case.body.get("expiresAt")):
        # "In the future" is a rule no schema can state; a real client never asks for a key
        # that has already expired.
        case.body = {**case.body, "expiresAt": None}
    golden = GOLDEN_CASES.get(label)
    if golden is None:
        return
    with _lock:  # the first of each phase, then every GOLDEN_EVERY-th
        key = (label, _phase(case))
        _positive_counts[key] += 1
        if _positive_counts[key] % GOLDEN_EVERY != 1:
            return
    try:
        golden(case)
    except SetupFailed:
        with _lock:
            _skipped[label] += 1


@atexit.register
def _report_skipped() -> None:
    """Real cases the fuzzing got in the way of (a state it changed in between): a count."""
    if _skipped:
        lines = "".join(f"  {count:3d}  {label}\n" for label, count in sorted(_skipped.items()))
        sys.stderr.write(f"real cases skipped because the fuzzing got in between:\n{lines}")


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if not LOG_PATH:
        return
    try:
        code = response.json().get("code") if response.status_code >= 400 else None
    except (ValueError, AttributeError):
        code = None
    line = {
        "op": f"{case.operation.method.upper()} {case.operation.path}",
        "phase": _phase(case),
        "mode": case.meta.generation.mode.value if case.meta is not None else None,
        "status": response.status_code,
        "code": code,
    }
    if response.status_code == 400 and code == "VALIDATION_ERROR":
        line["fields"] = sorted((response.json().get("details") or {}).get("fields", {}))
    if 400 <= response.status_code < 500 and line["mode"] == "positive":
        line["sent"] = repr(case.body)[:300]
        line["answer"] = response.text[:300]
    with _lock, open(LOG_PATH, "a") as log:
        log.write(json.dumps(line) + "\n")
