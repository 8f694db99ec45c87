// The sign-in page's passkeys: the browser's autofill offers them in the address field
// (conditional mediation), and a button asks for one outright. Both go through the API's
// authenticate/options and authenticate/verify; verify sets the SSO cookie, then the page
// goes where the server said (data-next, checked on the server: a trusted origin or a path
// on this site). Without JavaScript the page is a plain password form.
"use strict";
(() => {
  const root = document.querySelector("[data-passkey-login]");
  if (!root || !window.PublicKeyCredential || !navigator.credentials || !window.manaWebAuthn) return;
  const api = window.manaWebAuthn;
  const status = root.querySelector("#passkey-status");
  const button = root.querySelector("#passkey-signin");
  let pending = null; // the AbortController of the request in flight
  let busy = false;

  const say = (text) => {
    status.textContent = text || "";
    root.dataset.state = text ? "message" : "";
  };

  function explain(answer) {
    if (answer.status === 429) return root.dataset.msgLimited;
    if (answer.status >= 500) return root.dataset.msgUnavailable;
    return root.dataset.msgFailed;
  }

  async function signIn(mediation) {
    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    const options = await api.post(root.dataset.optionsUrl, {});
    if (options.status !== 200) {
      if (mediation !== "conditional") say(explain(options));
      return;
    }
    const request = { publicKey: api.requestOptions(options.body), signal: controller.signal };
    if (mediation === "conditional") request.mediation = "conditional";
    let credential;
    try {
      credential = await navigator.credentials.get(request);
    } catch (error) {
      // Aborted (another request took over) or dismissed: nothing to say.
      if (error && error.name !== "AbortError" && error.name !== "NotAllowedError") {
        say(root.dataset.msgFailed);
      }
      return;
    } finally {
      if (pending === controller) pending = null;
    }
    if (!credential || busy) return;
    busy = true;
    say(root.dataset.msgWorking);
    const verified = await api.post(root.dataset.verifyUrl, { credential: api.assertion(credential) });
    busy = false;
    if (verified.status === 200) {
      root.dataset.state = "signed-in";
      window.location.assign(root.dataset.next || "/");
      return;
    }
    say(explain(verified));
    if (mediation === "conditional") start();
  }

  async function start() {
    let conditional = false;
    try {
      conditional = Boolean(
        PublicKeyCredential.isConditionalMediationAvailable &&
          (await PublicKeyCredential.isConditionalMediationAvailable()),
      );
    } catch (_) {
      conditional = false;
    }
    root.dataset.conditional = conditional ? "on" : "off";
    if (conditional) signIn("conditional").catch(() => say(root.dataset.msgFailed));
  }

  button.hidden = false;
  button.addEventListener("click", () => {
    say("");
    signIn("required").catch(() => say(root.dataset.msgFailed));
  });
  start();
})();
