// The signed-in page's "Add a passkey": trade the SSO cookie for an access token
// (session-to-token), then register/options and register/verify with it. The sign-in that
// just happened counts as the re-authentication the API asks for (a few minutes only).
"use strict";
(() => {
  const root = document.querySelector("[data-passkey-add]");
  if (!root || !window.PublicKeyCredential || !navigator.credentials || !window.manaWebAuthn) return;
  const api = window.manaWebAuthn;
  const status = root.querySelector("#passkey-status");
  const button = root.querySelector("#passkey-add");
  const say = (text, state) => {
    status.textContent = text || "";
    root.dataset.state = state || "";
  };

  async function add() {
    say(root.dataset.msgWorking, "working");
    const tokens = await api.post(root.dataset.sessionUrl, {});
    if (tokens.status !== 200) return say(root.dataset.msgReauth, "failed");
    const token = tokens.body.accessToken;
    const options = await api.post(root.dataset.optionsUrl, {}, token);
    if (options.status === 401) return say(root.dataset.msgReauth, "failed");
    if (options.status !== 200) return say(root.dataset.msgFailed, "failed");
    let credential;
    try {
      credential = await navigator.credentials.create({
        publicKey: api.creationOptions(options.body),
      });
    } catch (_) {
      return say(root.dataset.msgCancelled, "failed");
    }
    const name = navigator.platform ? `Passkey (${navigator.platform})` : "Passkey";
    const saved = await api.post(
      root.dataset.verifyUrl,
      { credential: api.attestation(credential), name },
      token,
    );
    if (saved.status === 201) return say(root.dataset.msgAdded, "added");
    return say(root.dataset.msgFailed, "failed");
  }

  root.querySelector("#passkey-nojs").hidden = true;
  button.hidden = false;
  button.addEventListener("click", () => {
    button.disabled = true;
    add()
      .catch(() => say(root.dataset.msgFailed, "failed"))
      .finally(() => {
        button.disabled = false;
      });
  });
})();
