// Makes the Better Auth vectors in tests/importer/test_formats.py with Better Auth itself.
// Not run by the tests (the output is pasted there). To repeat:
//   npm install better-auth@1.7.25 && node make_better_auth_vectors.mjs
// Hashes and nonces are random, so every run prints new (equally valid) vectors.
import { hashPassword, verifyPassword, symmetricEncrypt, symmetricDecrypt } from "better-auth/crypto";
import { createHash } from "@better-auth/utils/hash";
import { base64Url } from "@better-auth/utils/base64";

const password = "Pässwörd-ﬁ 2026"; // a ligature: NFKC changes it
const hash = await hashPassword(password);
console.log(JSON.stringify({ password, hash, verifies: await verifyPassword({ hash, password }) }));

const secret = "better-auth-secret-for-the-import-test-0123456789";
const rotated = "rotated-secret-version-two-0123456789abcdef";
const totp = "k3J9vQ2mXr7TzL5pW8nB4cYh6Ds1Fg0A"; // like generateRandomString(32)
const sealed = await symmetricEncrypt({ key: secret, data: totp });
const codes = await symmetricEncrypt({ key: secret, data: JSON.stringify(["aB3dE-fG5hJ", "kL7mN-pQ9rS"]) });
const envelope = await symmetricEncrypt({
  key: { keys: new Map([[2, rotated], [1, secret]]), currentVersion: 2 },
  data: totp,
});
console.log(JSON.stringify({ sealed, opens: await symmetricDecrypt({ key: secret, data: sealed }), codes, envelope }));

// The api-key plugin's defaultKeyHasher: base64url(SHA-256(key)), no padding.
const key = "mana_TestKeyFromBetterAuthUtilsForTheImporterXyZ";
const digest = await createHash("SHA-256").digest(new TextEncoder().encode(key));
console.log(JSON.stringify({ key, hashed: base64Url.encode(new Uint8Array(digest), { padding: false }) }));
