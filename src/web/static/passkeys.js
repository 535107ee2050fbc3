// Passkeys in the browser: adding one (settings), signing in with one, and using one as the
// second factor (sign-in page). WebAuthn is only reachable from script, so these controls are
// hidden until this file shows them; everything else on the pages works without it.
//
// The browser's own JSON helpers (PublicKeyCredential.parse…OptionsFromJSON and toJSON) turn
// the server's options into WebAuthn calls and the answers back into JSON: no binary
// conversion is done here.

const supported =
  typeof window.PublicKeyCredential === "function" &&
  typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
  typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

/** Shows `text` in the element with id `id` (a role=alert region). */
function say(id, text) {
  const region = document.getElementById(id);
  if (region !== null) {
    region.textContent = text;
    region.hidden = text === "";
  }
}

async function postJson(url, body, csrfToken) {
  const headers = { "content-type": "application/json" };
  if (csrfToken) headers["x-csrf-token"] = csrfToken;
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers,
    body: JSON.stringify(body ?? {}),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, json };
}

/** Why a WebAuthn call failed, in words for the page. */
function failure(error) {
  if (error && error.name === "NotAllowedError") return "Cancelled, or no passkey was chosen.";
  if (error && error.name === "InvalidStateError") return "This passkey is already registered.";
  return "The passkey did not work. Try again.";
}

/** A passkey assertion for the server's sign-in options: { challengeId, response }. */
async function assertion() {
  const started = await postJson("/api/v1/auth/passkey/options");
  if (started.status !== 200) throw new Error("options");
  const credential = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(started.json.options),
  });
  return { challengeId: started.json.challengeId, response: credential.toJSON() };
}

// Settings: add a passkey.
const addForm = document.getElementById("passkey-add");
if (addForm instanceof HTMLFormElement && supported) {
  addForm.hidden = false;
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const csrfToken = addForm.dataset.csrf;
    const name = new FormData(addForm).get("passkeyName");
    say("passkey-add-status", "Follow your browser's prompt…");
    try {
      const started = await postJson("/api/v1/me/passkeys/options", {}, csrfToken);
      if (started.status === 401 && /reauth-required$/.test(started.json?.type ?? "")) {
        window.location.assign(`/reauth?next=${encodeURIComponent("/settings")}`);
        return;
      }
      if (started.status !== 200) {
        say("passkey-add-status", started.json?.detail ?? "A passkey cannot be added now.");
        return;
      }
      const credential = await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(started.json.options),
      });
      const finished = await postJson(
        "/api/v1/me/passkeys",
        { challengeId: started.json.challengeId, name, response: credential.toJSON() },
        csrfToken,
      );
      if (finished.status === 201) {
        window.location.assign("/settings");
        return;
      }
      say("passkey-add-status", finished.json?.detail ?? "The passkey was not accepted.");
    } catch (error) {
      say("passkey-add-status", failure(error));
    }
  });
}

// Sign-in page: a passkey alone.
const signInButton = document.getElementById("passkey-signin");
if (signInButton instanceof HTMLButtonElement && supported) {
  signInButton.hidden = false;
  signInButton.addEventListener("click", async () => {
    say("passkey-signin-status", "");
    try {
      const answer = await assertion();
      const signedIn = await postJson("/api/v1/auth/passkey/login", answer);
      if (signedIn.status === 200) {
        window.location.assign(signInButton.dataset.next || "/");
        return;
      }
      say("passkey-signin-status", signedIn.json?.detail ?? "That passkey did not sign you in.");
    } catch (error) {
      say("passkey-signin-status", failure(error));
    }
  });
}

// Sign-in page, second step: a passkey instead of the code, sent with the password.
const secondFactorButton = document.getElementById("passkey-second-factor");
if (secondFactorButton instanceof HTMLButtonElement && supported) {
  secondFactorButton.hidden = false;
  secondFactorButton.addEventListener("click", async () => {
    const form = secondFactorButton.form;
    if (form === null) return;
    const password = form.elements.namedItem("password");
    if (password instanceof HTMLInputElement && password.value === "") {
      password.focus();
      say("passkey-signin-status", "Enter your password first.");
      return;
    }
    try {
      const answer = await assertion();
      const field = form.elements.namedItem("passkey");
      if (field instanceof HTMLInputElement) field.value = JSON.stringify(answer);
      const code = form.elements.namedItem("totp");
      if (code instanceof HTMLInputElement) code.required = false;
      form.submit();
    } catch (error) {
      say("passkey-signin-status", failure(error));
    }
  });
}

// Step-up page: a passkey as the recent proof, then back to where the action started.
const reauthButton = document.getElementById("passkey-reauth");
if (reauthButton instanceof HTMLButtonElement && supported) {
  reauthButton.hidden = false;
  reauthButton.addEventListener("click", async () => {
    say("passkey-signin-status", "");
    try {
      const answer = await assertion();
      const proven = await postJson(
        "/api/v1/auth/reauth",
        { passkey: answer },
        reauthButton.dataset.csrf,
      );
      if (proven.status === 200) {
        window.location.assign(reauthButton.dataset.next || "/");
        return;
      }
      say("passkey-signin-status", proven.json?.detail ?? "That passkey was not accepted.");
    } catch (error) {
      say("passkey-signin-status", failure(error));
    }
  });
}
