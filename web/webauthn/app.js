// The AgentMint passkey page: register a passkey, and approve an action
// after reading it in full. Every value from the server is written with
// textContent, never as HTML.
"use strict";

function $(id) { return document.getElementById(id); }

// base64url without padding, to and from bytes.
function toB64url(buf) {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

// post sends a JSON body and returns the JSON answer, or throws the
// problem's detail.
async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    let msg = data.detail || res.statusText;
    const retry = res.headers.get("Retry-After");
    if (retry) msg += " (try again in " + retry + " s)";
    throw new Error(msg);
  }
  return data;
}

function status(id, text, isError) {
  const el = $(id);
  el.textContent = text;
  el.className = isError ? "status error" : "status";
}

// credentialJSON serializes a PublicKeyCredential as the server reads it;
// response holds the members of its response, already encoded.
function credentialJSON(cred, response) {
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: { clientDataJSON: toB64url(cred.response.clientDataJSON), ...response },
  };
}

function descriptors(list) {
  return (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
}

async function register(ev) {
  ev.preventDefault();
  const user = $("reg-user").value;
  try {
    status("reg-status", "Starting…");
    const opts = await post("register/start", { user_id: user, user_name: $("reg-name").value });
    const pk = opts.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    pk.excludeCredentials = descriptors(pk.excludeCredentials);
    status("reg-status", "Waiting for your authenticator…");
    const cred = await navigator.credentials.create({ publicKey: pk });
    const r = cred.response;
    await post("register/finish", {
      user_id: user,
      credential: credentialJSON(cred, {
        attestationObject: toB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      }),
    });
    status("reg-status", "Passkey registered.");
  } catch (e) {
    status("reg-status", "Registration failed: " + e.message, true);
  }
}

let pending = null; // the begun approval: its options and request

async function review(ev) {
  ev.preventDefault();
  $("result").hidden = true;
  const body = { user_id: $("ap-user").value, action: $("ap-action").value };
  const ttl = $("ap-ttl").value;
  if (ttl !== "") body.ttl_seconds = Number(ttl);
  if ($("ap-aud").value !== "") body.aud = $("ap-aud").value;
  try {
    if ($("ap-details").value.trim() !== "") body.details = JSON.parse($("ap-details").value);
    status("ap-status", "Starting…");
    pending = await post("auth/start", body);
    // Show what the server will have the authenticator sign, as the
    // server revealed it.
    const d = pending.approval.display;
    $("rv-sub").textContent = d.sub;
    $("rv-action").textContent = d.action;
    $("rv-aud").textContent = d.aud || "(none)";
    $("rv-details").textContent = d.details || "(none)";
    $("rv-ttl").textContent = pending.approval.ttl_seconds + " s";
    $("review").hidden = false;
    status("ap-status", "");
  } catch (e) {
    status("ap-status", "Could not start: " + e.message, true);
  }
}

async function approve() {
  if (!pending) return;
  const begun = pending;
  pending = null;
  $("review").hidden = true;
  try {
    const pk = begun.publicKey;
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = descriptors(pk.allowCredentials);
    status("ap-status", "Waiting for your authenticator…");
    const cred = await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    const out = await post("auth/finish", {
      user_id: begun.approval.sub,
      action: begun.approval.action,
      credential: credentialJSON(cred, {
        authenticatorData: toB64url(r.authenticatorData),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : undefined,
      }),
    });
    $("res-token").textContent = out.token;
    $("res-exp").textContent = new Date(out.exp * 1000).toISOString();
    $("result").hidden = false;
    status("ap-status", "Approved.");
  } catch (e) {
    status("ap-status", "Approval failed: " + e.message, true);
  }
}

function cancel() {
  pending = null;
  $("review").hidden = true;
  status("ap-status", "Cancelled.");
}

// prefill fills the approval form from the page's query string, so that a
// backend can link a person to the action it wants approved.
function prefill() {
  const q = new URLSearchParams(location.search);
  const fields = { user: "ap-user", action: "ap-action", aud: "ap-aud", details: "ap-details", ttl_seconds: "ap-ttl" };
  for (const [k, id] of Object.entries(fields)) {
    if (q.has(k)) $(id).value = q.get(k);
  }
  if (q.has("user")) $("reg-user").value = q.get("user");
}

document.addEventListener("DOMContentLoaded", () => {
  $("register-form").addEventListener("submit", register);
  $("start-form").addEventListener("submit", review);
  $("approve-button").addEventListener("click", approve);
  $("cancel-button").addEventListener("click", cancel);
  prefill();
});
