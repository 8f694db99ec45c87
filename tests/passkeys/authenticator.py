"""A software WebAuthn authenticator for the API tests.

An ES256 (P-256) key from ``cryptography``, ``none`` attestation, authenticator data and the
COSE key encoded with ``cbor2``. It answers the server's options JSON with the JSON a browser's
``PublicKeyCredential.toJSON()`` produces, and every field can be tampered with.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

UP = 0x01
UV = 0x04
BE = 0x08
BS = 0x10
AT = 0x40

DEFAULT_ORIGIN = "http://localhost:8000"
DEFAULT_RP_ID = "localhost"
AAGUID = bytes.fromhex("6d616e612d746573742d617574686e00")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class SoftAuthenticator:
    """One credential on one authenticator. ``counter_step=0`` imitates authenticators that
    always report a zero sign count (most synced passkeys). ``algorithm`` is the COSE id:
    -7 ES256 (default), -8 EdDSA, -257 RS256."""

    def __init__(
        self,
        *,
        origin: str = DEFAULT_ORIGIN,
        rp_id: str = DEFAULT_RP_ID,
        credential_id: bytes | None = None,
        counter_step: int = 1,
        backup_eligible: bool = False,
        backed_up: bool = False,
        algorithm: int = -7,
    ) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.algorithm = algorithm
        self.private_key: Any
        if algorithm == -7:
            self.private_key = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == -8:
            self.private_key = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == -257:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unsupported algorithm {algorithm}")
        self.credential_id = credential_id if credential_id is not None else os.urandom(32)
        self.counter_step = counter_step
        self.sign_count = 0
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.user_handle: bytes | None = None

    @property
    def credential_id_b64(self) -> str:
        return b64(self.credential_id)

    def cose_public_key(self) -> bytes:
        public = self.private_key.public_key()
        if self.algorithm == -8:
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cbor2.dumps({1: 1, 3: -8, -1: 6, -2: raw})  # OKP, EdDSA, Ed25519
        numbers = public.public_numbers()
        if self.algorithm == -257:
            n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            return cbor2.dumps({1: 3, 3: -257, -1: n, -2: numbers.e.to_bytes(3, "big")})
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _sign(self, key: Any, data: bytes) -> bytes:
        if self.algorithm == -8:
            return key.sign(data)
        if self.algorithm == -257:
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    def _flags(self, *, up: bool, uv: bool) -> int:
        flags = (UP if up else 0) | (UV if uv else 0)
        if self.backup_eligible:
            flags |= BE
        if self.backed_up:
            flags |= BS
        return flags

    def _client_data(
        self, *, kind: str, challenge: str, origin: str | None, extra: dict[str, Any] | None
    ) -> bytes:
        data = {
            "type": kind,
            "challenge": challenge,
            "origin": origin or self.origin,
            "crossOrigin": False,
            **(extra or {}),
        }
        return json.dumps(data, separators=(",", ":")).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        client_data_type: str = "webauthn.create",
        up: bool = True,
        uv: bool = True,
        transports: tuple[str, ...] = ("internal",),
        cose_key: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer creation options (``navigator.credentials.create()``)."""
        self.user_handle = unb64(options["user"]["id"])
        rp_hash = hashlib.sha256((rp_id or options["rp"]["id"]).encode()).digest()
        auth_data = (
            rp_hash
            + bytes([self._flags(up=up, uv=uv) | AT])
            + self.sign_count.to_bytes(4, "big")
            + AAGUID
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + (cose_key if cose_key is not None else self.cose_public_key())
        )
        client_data = self._client_data(
            kind=client_data_type,
            challenge=challenge or options["challenge"],
            origin=origin,
            extra=None,
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.credential_id_b64,
            "rawId": self.credential_id_b64,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": list(transports),
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        client_data_type: str = "webauthn.get",
        credential_type: str = "public-key",
        up: bool = True,
        uv: bool = True,
        sign_count: int | None = None,
        user_handle: bytes | bool | None = True,
        tamper_signature: bool = False,
    ) -> dict[str, Any]:
        """Answer request options (``navigator.credentials.get()``)."""
        if sign_count is None:
            self.sign_count += self.counter_step
            count = self.sign_count
        else:
            count = sign_count
        rp_hash = hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
        auth_data = rp_hash + bytes([self._flags(up=up, uv=uv)]) + count.to_bytes(4, "big")
        client_data = self._client_data(
            kind=client_data_type,
            challenge=challenge or options["challenge"],
            origin=origin,
            extra=None,
        )
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self._sign(self.private_key, signed)
        if tamper_signature:  # a valid signature, by another key of the same kind
            signature = self._sign(SoftAuthenticator(algorithm=self.algorithm).private_key, signed)
        response: dict[str, Any] = {
            "clientDataJSON": b64(client_data),
            "authenticatorData": b64(auth_data),
            "signature": b64(signature),
        }
        if user_handle is True:
            if self.user_handle is not None:
                response["userHandle"] = b64(self.user_handle)
        elif isinstance(user_handle, bytes):
            response["userHandle"] = b64(user_handle)
        return {
            "id": self.credential_id_b64,
            "rawId": self.credential_id_b64,
            "type": credential_type,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }
