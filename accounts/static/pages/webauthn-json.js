// The JSON the API speaks <-> the ArrayBuffers WebAuthn speaks (base64url, no padding).
// Shared by passkey-login.js and passkey-add.js; no framework, no inline script (the pages'
// Content-Security-Policy allows scripts from this origin only).
"use strict";
window.manaWebAuthn = (() => {
  const toBytes = (value) => {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  const toB64 = (buffer) => {
    if (!buffer) return null;
    let text = "";
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (items) => (items || []).map((item) => ({ ...item, id: toBytes(item.id) }));

  async function post(url, body, token) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    let json = {};
    try {
      json = await response.json();
    } catch (_) {
      json = {};
    }
    return { status: response.status, body: json };
  }

  function requestOptions(json) {
    const { ceremonyId: _optional, ...options } = json;
    return {
      ...options,
      challenge: toBytes(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    };
  }

  function creationOptions(json) {
    return {
      ...json,
      challenge: toBytes(json.challenge),
      user: { ...json.user, id: toBytes(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  }

  function assertion(credential) {
    return {
      id: credential.id,
      rawId: toB64(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64(credential.response.clientDataJSON),
        authenticatorData: toB64(credential.response.authenticatorData),
        signature: toB64(credential.response.signature),
        userHandle: toB64(credential.response.userHandle),
      },
    };
  }

  function attestation(credential) {
    return {
      id: credential.id,
      rawId: toB64(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64(credential.response.clientDataJSON),
        attestationObject: toB64(credential.response.attestationObject),
        transports: credential.response.getTransports ? credential.response.getTransports() : [],
      },
    };
  }

  return { post, requestOptions, creationOptions, assertion, attestation };
})();
