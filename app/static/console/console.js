// tgw admin console: plain JavaScript, no framework, everything served by the gateway.
//
// It signs in with the admin token (POST /admin/session sets an HttpOnly cookie and answers a
// CSRF token) and then calls the same admin JSON API as scripts do, sending the CSRF token as
// X-CSRF-Token on every request that is not a GET. Data is only ever put into the page with
// textContent and DOM properties, never parsed as HTML, so nothing it shows can run as code.
// Paths are relative to the page (/admin/), so the console also works under a path prefix.

"use strict";

(function () {
  const POLL_INSTANCES_MS = 2500;
  const POLL_LOGIN_MS = 2000;
  // Logged in, whatever the account's condition (the queue may be paused).
  const LOGGED_IN = ["ready", "flood_wait", "restricted", "frozen"];
  const STATUS_CLASS = {
    ready: "good",
    flood_wait: "warn",
    restricted: "warn",
    frozen: "bad",
    banned: "bad",
    deactivated: "bad",
    awaiting_code: "warn",
    awaiting_password: "warn",
    awaiting_qr: "warn",
    logged_out: "idle",
    revoked: "bad",
    active: "good",
    expired: "warn",
    queued: "idle",
    sending: "warn",
    sent: "good",
    read: "good",
    failed: "bad",
    registered: "good",
    pending: "warn",
    unregistered: "idle",
    enabled: "good",
    disabled: "bad",
    delivering: "warn",
    delivered: "good",
    dead: "bad",
  };
  // The gateway's own words (app/vocabulary.py), served as static/vocabulary.js.
  const VOCABULARY = window.TGW_VOCABULARY;
  const MESSAGE_STATUSES = VOCABULARY.MESSAGE_STATUSES;
  const RECIPIENT_STATUSES = [...VOCABULARY.RECIPIENT_STATUSES, "all"];
  const DELIVERY_STATUSES = VOCABULARY.DELIVERY_STATUSES;
  const EVENT_TYPES = VOCABULARY.EVENT_TYPES;
  const SCOPES = VOCABULARY.SCOPES;

  const WEBHOOK_FORMATS = [["standard", "standard"], ["whatsmate", "whatsmate"]];
  const FORMAT_NOTE = "standard: every subscribed event, signed (Standard Webhooks). " +
    "whatsmate: received messages only, in the hosted WhatsMate gateway's body " +
    "{token, type, instance_id, gateway_number, number, message}, signed the same way.";

  const state = { csrf: null, generation: 0, timers: new Set() };

  // --- DOM helpers ------------------------------------------------------------------------

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "value") node.value = String(value);
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of [children].flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replace(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  function $(id) {
    return document.getElementById(id);
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  // "3 h 5 min ago": how long the instance has been in its status (the account's condition).
  function since(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
    const parts = [];
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    if (days) parts.push(days + " d");
    if (hours) parts.push(hours + " h");
    if (!days && minutes) parts.push(minutes + " min");
    if (!parts.length) parts.push(seconds + " s");
    return parts.join(" ") + " ago (" + date.toLocaleString() + ")";
  }

  function phone(number) {
    if (!number) return "—";
    return /^\d+$/.test(number) ? "+" + number : String(number);
  }

  // Which gateway process holds the Telegram session (a lease: one owner per session).
  function owner(inst) {
    if (!inst.session_owner) return null;
    const here = inst.session_owner === "this process";
    return ["Session", here ? "held by this gateway process" : "held by another tgw process (this one serves HTTP only)"];
  }

  function badge(status, label) {
    const cls = STATUS_CLASS[status] || "idle";
    return h("span", { class: "badge " + cls, "data-status": status, text: label || status || "—" });
  }

  function facts(pairs) {
    const list = h("dl", { class: "facts" });
    for (const pair of pairs) {
      if (!pair) continue;
      append(list, [h("dt", { text: pair[0] }), h("dd", {}, pair[1] === null ? "—" : pair[1])]);
    }
    return list;
  }

  // A table whose rows turn into labelled cards on a narrow screen (see console.css).
  function table(columns, rows, empty) {
    if (!rows.length) return h("p", { class: "empty", text: empty || "Nothing here yet." });
    const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c.label })));
    const body = rows.map((row) =>
      h(
        "tr",
        { "data-key": row.__key || null },
        columns.map((c) =>
          h("td", { "data-label": c.label, class: c.cls || null }, c.value(row)),
        ),
      ),
    );
    return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
  }

  // Only an http(s) image on this gateway: a picture URL from the API is mapped to this origin.
  function imageUrl(raw) {
    if (!raw) return null;
    let url;
    try {
      url = new URL(raw, location.href);
    } catch (err) {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin === location.origin ? url.href : url.pathname + url.search;
  }

  function toast(message) {
    const node = $("toast");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => {
      node.hidden = true;
    }, 4000);
  }

  // --- the admin API ------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, code, message, seconds) {
      super(message);
      this.status = status;
      this.code = code;
      this.seconds = seconds;
    }
  }

  function describe(err) {
    if (err instanceof ApiFailure) {
      let text = err.message || "Request failed";
      if (err.code) text += " [" + err.code + "]";
      if (err.seconds) text += " — wait " + err.seconds + " s";
      return text;
    }
    return String((err && err.message) || err);
  }

  async function api(method, path, body, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    let payload;
    if (body instanceof Blob) {
      payload = body;
      headers["Content-Type"] = opts.type || body.type || "application/octet-stream";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: payload,
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiFailure(0, "network", "The gateway did not answer: " + describe(err));
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        data = null;
      }
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const retry = Number(response.headers.get("Retry-After")) || undefined;
      const failure = new ApiFailure(
        response.status,
        error.code || "http_" + response.status,
        error.message || (data && data.error_message) || response.statusText,
        error.seconds || retry,
      );
      if (response.status === 401 && failure.code === "unauthorized" && !opts.signingIn) {
        signedOut("Your console session has ended: sign in again.");
      }
      throw failure;
    }
    return data;
  }

  function errorBox() {
    const node = h("p", { class: "error", role: "alert", hidden: true });
    return {
      node,
      show(err) {
        node.textContent = typeof err === "string" ? err : describe(err);
        node.hidden = false;
      },
      clear() {
        node.textContent = "";
        node.hidden = true;
      },
    };
  }

  // Run `work` with the button disabled; failures go to `errors` (or a toast).
  async function busy(button, work, errors) {
    if (button) button.disabled = true;
    try {
      if (errors) errors.clear();
      return await work();
    } catch (err) {
      if (errors) errors.show(err);
      else toast(describe(err));
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  function onSubmit(form, work, errors) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      busy(button, () => work(new FormData(form)), errors);
    });
    return form;
  }

  async function copyText(input) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(input.value);
      } else {
        input.select();
        document.execCommand("copy");
      }
      toast("Copied");
    } catch (err) {
      input.select();
      toast("Select the text and copy it by hand");
    }
  }

  // Client secrets are kept only as hashes: shown once. Webhook secrets are kept sealed, and
  // the admin API can show them again.
  const SHOWN_ONCE =
    "Shown only once: copy it now and keep it somewhere safe. " +
    "The gateway keeps only what it needs to check it, and cannot show it again.";
  const SHOWN_AGAIN =
    "Copy it now and keep it somewhere safe. The gateway keeps it encrypted; " +
    "the admin API shows it again (GET /admin/webhooks/{id}).";

  // A secret, with a copy button and a warning.
  function secretBox(slot, title, secret, note, notice = SHOWN_ONCE) {
    const input = h("input", {
      type: "text",
      readonly: true,
      value: secret,
      "aria-label": title,
      "data-secret": "",
      spellcheck: "false",
    });
    const box = h(
      "section",
      { class: "card secret-box", "data-role": "secret" },
      h("h2", { text: title }),
      h("p", {
        class: "notice",
        text: notice,
      }),
      note ? h("p", { class: "muted small", text: note }) : null,
      h("div", { class: "inline-form" }, input,
        h("button", { class: "button primary", type: "button", onclick: () => copyText(input) }, "Copy"),
        h("button", { class: "button quiet", type: "button", onclick: () => box.remove() }, "Done"),
      ),
    );
    replace(slot, box);
    box.scrollIntoView({ block: "nearest" });
    input.focus();
    input.select();
  }

  // --- polling and routing -------------------------------------------------------------------

  function every(ms, work) {
    const generation = state.generation;
    const tick = async () => {
      if (generation !== state.generation) return;
      if (!document.hidden) {
        try {
          await work();
        } catch (err) {
          // each poller shows its own errors
        }
      }
      if (generation !== state.generation) return;
      const handle = setTimeout(() => {
        state.timers.delete(handle);
        tick();
      }, ms);
      state.timers.add(handle);
    };
    tick();
  }

  function stopViews() {
    state.generation += 1;
    for (const handle of state.timers) clearTimeout(handle);
    state.timers.clear();
  }

  function current() {
    return state.generation;
  }

  const VIEWS = {
    instances: (root, arg) => (arg ? viewInstance(root, arg) : viewInstances(root)),
    clients: (root) => viewClients(root),
    recipients: (root) => viewRecipients(root),
    messages: (root) => viewMessages(root),
    webhooks: (root, arg) => (arg ? viewDeliveries(root, arg) : viewWebhooks(root)),
    alerts: (root) => viewAlerts(root),
    cluster: (root) => viewCluster(root),
  };

  function route() {
    if (!state.csrf) return;
    stopViews();
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    const section = VIEWS[parts[0]] ? parts[0] : "instances";
    const arg = parts[1] ? decodeURIComponent(parts[1]) : null;
    for (const link of document.querySelectorAll("#nav a")) {
      const active = link.dataset.section === section;
      link.classList.toggle("active", active);
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const root = replace($("view"));
    root.dataset.view = section + (arg ? "/" + arg : "");
    VIEWS[section](root, arg);
  }

  // --- signing in and out --------------------------------------------------------------------

  function signedOut(message) {
    state.csrf = null;
    stopViews();
    replace($("view"));
    $("nav").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    const error = $("sign-in-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("token").focus();
  }

  function signedIn(session) {
    state.csrf = session.csrf_token;
    $("sign-in").hidden = true;
    $("sign-in-error").hidden = true;
    $("nav").hidden = false;
    $("sign-out").hidden = false;
    route();
  }

  function setUpSignIn() {
    $("sign-in-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("token");
      const button = event.target.querySelector("button");
      button.disabled = true;
      try {
        const session = await api("POST", "session", { token: input.value }, { signingIn: true });
        input.value = "";
        signedIn(session);
      } catch (err) {
        const error = $("sign-in-error");
        error.textContent = describe(err);
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
    $("sign-out").addEventListener("click", async () => {
      try {
        await api("DELETE", "session");
      } catch (err) {
        // the cookie is cleared by the answer; the page forgets the session either way
      }
      signedOut("Signed out.");
    });
  }

  // --- instances -------------------------------------------------------------------------------

  function queueLine(queue) {
    const counts = queue || {};
    return h(
      "div",
      { class: "queue", "aria-label": "Messages by status" },
      MESSAGE_STATUSES.map((s) => h("span", { text: s + " " + (counts[s] || 0) })),
    );
  }

  function instanceCard(inst) {
    const loggedIn = LOGGED_IN.includes(inst.status);
    return h(
      "article",
      { class: "card instance-card", "data-instance": inst.number },
      h("h2", {}, "Instance " + inst.number, badge(inst.status)),
      facts([
        ["Phone", phone(inst.phone)],
        ["Backend", inst.backend || "—"],
        ["Detail", inst.status_detail || "—"],
        ["Since", since(inst.status_since)],
        owner(inst),
        inst.paused_until ? ["Paused until", when(inst.paused_until)] : null,
        inst.queue && inst.queue.paused ? ["Queue", "paused " + when(inst.queue.paused_at)] : null,
      ]),
      queueLine(inst.queue),
      h(
        "div",
        { class: "actions" },
        h("a", {
          class: "button " + (loggedIn ? "" : "primary"),
          href: "#/instances/" + encodeURIComponent(inst.number),
          text: loggedIn ? "Manage and profile" : "Log in",
        }),
      ),
    );
  }

  function viewInstances(root) {
    const list = h("div", { class: "grid two", id: "instances" });
    const errors = errorBox();
    append(root, [
      h("div", { class: "row spread" }, h("h1", { text: "Instances" }),
        h("span", { class: "muted small", text: "live, every few seconds" })),
      errors.node,
      list,
    ]);
    every(POLL_INSTANCES_MS, async () => {
      try {
        const answer = await api("GET", "instances");
        errors.clear();
        replace(list, answer.data.length ? answer.data.map(instanceCard)
          : h("p", { class: "empty", text: "No instances are configured." }));
      } catch (err) {
        errors.show(err);
      }
    });
  }

  function viewInstance(root, number) {
    const base = "instances/" + encodeURIComponent(number);
    const generation = current();
    const title = h("h1", {}, "Instance " + number);
    const statusSlot = h("span", { id: "instance-status" });
    const details = h("div");
    const errors = errorBox();
    const loginBody = h("div", { id: "login" });
    const loginErrors = errorBox();
    loginErrors.node.id = "login-error";
    const profile = profilePanel(base);
    const devices = sessionsPanel(base);
    const standing = standingPanel(base);

    append(root, [
      h("p", {}, h("a", { href: "#/instances", text: "← All instances" })),
      h("div", { class: "row spread" }, title, statusSlot),
      errors.node,
      details,
      h("div", { class: "grid two" },
        h("section", { class: "card", "aria-labelledby": "login-title" },
          h("h2", { id: "login-title", text: "Telegram login" }), loginErrors.node, loginBody),
        profile.node),
      standing.node,
      devices.node,
    ]);

    let inst = null;
    let login = null;
    let loginAvailable = true;
    let shownKey = null;
    let heldKey = null; // the server step the admin chose to leave (e.g. "use another number")
    let qrVersion = 0;

    function renderHeader() {
      replace(statusSlot, badge(inst.status));
      replace(details, h("section", { class: "card" },
        facts([
          ["Phone", phone(inst.phone)],
          ["Backend", inst.backend || "—"],
          ["Telegram user id", inst.user_id === null || inst.user_id === undefined ? "—" : String(inst.user_id)],
          ["Detail", inst.status_detail || "—"],
          ["Since", since(inst.status_since)],
          owner(inst),
          inst.paused_until ? ["Paused until", when(inst.paused_until)] : null,
        ]),
        queueLine(inst.queue)));
    }

    function keyOf() {
      // "ready" comes from the instance's status: a login that completed here may since have
      // been revoked from a phone.
      const finished = login.step === "idle" || login.step === "ready";
      if (finished && LOGGED_IN.includes(inst.status)) return "ready|" + (inst.phone || "");
      return (login.step === "ready" ? "idle" : login.step) + "|" + (login.url || "");
    }

    function renderLogin() {
      if (!inst || !login) return;
      const key = keyOf();
      const ready = key.startsWith("ready|");
      if (login.error && !ready) loginErrors.show(loginErrorText(login.error));
      if (key === shownKey || key === heldKey) return;
      heldKey = null;
      shownKey = key;
      if (!login.error) loginErrors.clear();
      const shown = key.slice(0, key.indexOf("|"));
      loginBody.dataset.step = shown;
      if (ready) return replace(loginBody, readyPanel());
      if (shown === "code_sent") return replace(loginBody, codePanel());
      if (shown === "password_needed") return replace(loginBody, passwordPanel());
      if (shown === "awaiting_qr") return replace(loginBody, qrPanel());
      if (shown === "idle") return replace(loginBody, phonePanel());
      return replace(loginBody, h("p", { class: "muted", text: "Working… (" + shown + ")" }));
    }

    function loginErrorText(error) {
      if (typeof error === "string") return error;
      let text = (error.message || "The login failed") + " [" + (error.code || "error") + "]";
      if (error.seconds) text += " — wait " + error.seconds + " s";
      return text;
    }

    async function refreshInstance() {
      try {
        inst = await api("GET", base);
        if (generation !== current()) return;
        errors.clear();
        renderHeader();
        profile.update(inst.profile);
        devices.update(inst);
        standing.update(inst);
        renderLogin();
      } catch (err) {
        errors.show(err);
      }
    }

    async function refreshLogin() {
      if (!loginAvailable) return;
      try {
        login = await api("GET", base + "/login");
        if (generation !== current()) return;
        renderLogin();
      } catch (err) {
        if (err.status === 404 && err.code === "not_found") {
          loginAvailable = false;
          replace(loginBody, h("p", { class: "notice",
            text: "Logging in from the console is not available in this version of the gateway: use `tgw login`." }));
        } else {
          loginErrors.show(err);
        }
      }
    }

    // Apply the answer of a login step at once, then let the pollers confirm it.
    async function step(work) {
      loginErrors.clear();
      const answer = await work();
      if (answer && answer.step) {
        login = Object.assign({}, answer, { error: null });
        // A completed login shows once the instance's new status is in (no flash of the form).
        if (answer.step !== "ready") renderLogin();
      }
      await refreshInstance();
      await refreshLogin();
      return answer;
    }

    function phonePanel() {
      const errorsHere = loginErrors;
      const form = h("form", { id: "login-phone-form", autocomplete: "on" },
        h("label", { for: "login-phone", text: "Phone number, with the country code" }),
        h("input", { id: "login-phone", name: "phone", type: "tel", inputmode: "tel",
          autocomplete: "tel", placeholder: "+34 612 345 678", required: true }),
        h("button", { class: "button primary", type: "submit", text: "Send the code" }));
      onSubmit(form, async (data) => {
        await step(() => api("POST", base + "/login", { phone: String(data.get("phone")).trim() }));
      }, errorsHere);
      const qrButton = h("button", { class: "button", type: "button", id: "login-qr",
        text: "Log in with a QR code" });
      qrButton.addEventListener("click", () =>
        busy(qrButton, () => step(() => api("POST", base + "/login/qr")), errorsHere));
      return [
        h("p", { class: "muted", text: "This instance is not logged in to Telegram." }),
        form,
        h("p", { class: "muted small", text: "or, from a phone where the account is logged in:" }),
        qrButton,
      ];
    }

    function restartButton(label) {
      return h("button", { class: "button quiet", type: "button", text: label,
        onclick: () => {
          heldKey = shownKey;
          shownKey = null;
          loginErrors.clear();
          replace(loginBody, phonePanel());
        } });
    }

    function codePanel() {
      const form = h("form", { id: "login-code-form", autocomplete: "off" },
        h("label", { for: "login-code", text: "The code Telegram sent" }),
        h("input", { id: "login-code", name: "code", type: "text", inputmode: "numeric",
          autocomplete: "one-time-code", required: true }),
        h("button", { class: "button primary", type: "submit", text: "Log in" }));
      onSubmit(form, async (data) => {
        const answer = await step(() =>
          api("POST", base + "/login/code", { code: String(data.get("code")).trim() }));
        if (answer && answer.step === "ready") toast("Logged in");
      }, loginErrors);
      return [
        h("p", { text: "Telegram sent a login code to the Telegram app of this number (or by SMS)." }),
        form,
        restartButton("Use another number"),
      ];
    }

    function passwordPanel() {
      const input = h("input", { id: "login-password", name: "password", type: "password",
        autocomplete: "current-password", required: true });
      const form = h("form", { id: "login-password-form" },
        h("label", { for: "login-password", text: "Two-step verification password" }),
        input,
        h("button", { class: "button primary", type: "submit", text: "Submit the password" }));
      onSubmit(form, async (data) => {
        const password = String(data.get("password"));
        input.value = ""; // never kept in the page
        const answer = await step(() => api("POST", base + "/login/password", { password }));
        if (answer && answer.step === "ready") toast("Logged in");
      }, loginErrors);
      return [
        h("p", { text: "This account has two-step verification: enter its password." }),
        login.password_hint ? h("p", { class: "muted", text: "Hint: " + login.password_hint }) : null,
        form,
        restartButton("Start over"),
      ];
    }

    function qrPanel() {
      qrVersion += 1;
      const image = h("img", {
        class: "qr",
        id: "login-qr-image",
        alt: "QR code to log in: scan it with Telegram",
        src: base + "/login/qr.png?v=" + qrVersion + "-" + Date.now(),
        width: 280,
        height: 280,
      });
      const problem = h("p", { class: "error", hidden: true,
        text: "The QR code could not be loaded; it is fetched again when it changes." });
      image.addEventListener("error", () => { problem.hidden = false; });
      image.addEventListener("load", () => { problem.hidden = true; });
      return [
        h("p", { text: "On a phone where this account is logged in: Telegram → Settings → Devices → Link Desktop Device, then scan:" }),
        image,
        problem,
        h("p", { class: "muted small",
          text: "The code renews by itself" + (login.expires_at ? " (this one until " + when(login.expires_at) + ")" : "") + "." }),
        restartButton("Use a phone number instead"),
      ];
    }

    function readyPanel() {
      const button = h("button", { class: "button danger", type: "button", id: "logout",
        text: "Log out of Telegram" });
      button.addEventListener("click", () => {
        if (!window.confirm("Log instance " + number + " out of Telegram? Sending stops until it is logged in again.")) return;
        busy(button, async () => {
          await api("POST", base + "/logout");
          toast("Logged out");
          shownKey = null;
          await refreshInstance();
          await refreshLogin();
        }, loginErrors);
      });
      return [
        h("p", {}, "Logged in as ", h("strong", { text: phone(inst.phone) }), "."),
        button,
      ];
    }

    every(POLL_INSTANCES_MS, refreshInstance);
    every(POLL_LOGIN_MS, refreshLogin);
  }

  function profilePanel(base) {
    const errors = errorBox();
    const photoSlot = h("div", { id: "profile-photo-slot" });
    let photoShown;
    let filled = false;
    const first = h("input", { id: "profile-first", name: "first_name", type: "text", maxlength: 64, required: true, autocomplete: "off" });
    const last = h("input", { id: "profile-last", name: "last_name", type: "text", maxlength: 64, autocomplete: "off" });
    const about = h("textarea", { id: "profile-about", name: "about", maxlength: 70, rows: 2 });
    const names = h("form", { id: "profile-form" },
      h("label", { for: "profile-first", text: "First name" }), first,
      h("label", { for: "profile-last", text: "Last name" }), last,
      h("label", { for: "profile-about", text: "About (bio)" }), about,
      h("button", { class: "button primary", type: "submit", text: "Save the profile" }));
    onSubmit(names, async () => {
      const answer = await api("PUT", base + "/profile", {
        first_name: first.value.trim(),
        last_name: last.value.trim(),
        about: about.value.trim(),
      });
      fill(answer);
      toast("Profile saved");
    }, errors);

    const file = h("input", { id: "profile-photo-file", name: "photo", type: "file", accept: "image/jpeg,image/png" });
    const upload = h("form", { id: "profile-photo-form" },
      h("label", { for: "profile-photo-file", text: "New picture (JPEG or PNG)" }), file,
      h("button", { class: "button", type: "submit", text: "Upload the picture" }));
    onSubmit(upload, async () => {
      const chosen = file.files && file.files[0];
      if (!chosen) throw new Error("Choose a JPEG or PNG file first.");
      const type = chosen.type === "image/jpg" ? "image/jpeg" : chosen.type;
      if (type !== "image/jpeg" && type !== "image/png") {
        throw new Error("The picture must be a JPEG or PNG file (this one is " + (chosen.type || "of an unknown type") + ").");
      }
      const answer = await api("PUT", base + "/profile/photo", chosen, { type });
      showPhoto(answer.photo_url, true);
      file.value = "";
      toast("Picture updated" + (answer.width ? " (" + answer.width + "×" + answer.height + ")" : ""));
    }, errors);

    function showPhoto(url, fresh) {
      const src = imageUrl(url);
      if (src === photoShown && !fresh) return;
      photoShown = src;
      if (!src) {
        replace(photoSlot, h("div", { class: "photo photo-empty", id: "profile-photo", text: "No picture set by tgw" }));
        return;
      }
      const shown = fresh ? src + (src.includes("?") ? "&" : "?") + "t=" + Date.now() : src;
      replace(photoSlot, h("img", { class: "photo", id: "profile-photo", src: shown, alt: "Current profile picture" }));
    }

    function fill(profile) {
      first.value = profile.first_name || "";
      last.value = profile.last_name || "";
      about.value = profile.about || "";
    }

    const node = h("section", { class: "card", id: "profile", "aria-labelledby": "profile-title" },
      h("h2", { id: "profile-title", text: "Profile" }),
      errors.node,
      h("div", { class: "row" }, photoSlot),
      upload,
      h("h3", { text: "Name and bio" }),
      names);
    showPhoto(null, false);

    return {
      node,
      update(profile) {
        if (!profile) return;
        showPhoto(profile.photo_url, false);
        if (!filled) {
          filled = true; // later polls must not overwrite what the admin is typing
          fill(profile);
        }
      },
    };
  }

  // The account's sessions at Telegram (the devices it is logged in on), with an End button for
  // the others, and the latest logins from other devices (account.login_alert events).
  function sessionsPanel(base) {
    const errors = errorBox();
    const alertsSlot = h("div", { id: "login-alerts" });
    const list = h("div", { id: "sessions" });
    const refresh = h("button", { class: "button quiet", type: "button", id: "sessions-refresh", text: "Refresh" });
    let loggedIn = null;
    let newestAlert; // the id of the latest alert shown; undefined before the first answer

    // "Linux" and "Linux", "tgw" and "tgw": a part repeated is shown once.
    function parts(...values) {
      return [...new Set(values.filter(Boolean))].join(" ") || "—";
    }

    function place(s) {
      const area = [s.region, s.country].filter(Boolean).join(", ");
      return [area, s.ip].filter(Boolean).join(" · ") || "—";
    }

    function endButton(session) {
      const button = h("button", { class: "button danger", type: "button", "data-end": session.hash, text: "End" });
      button.addEventListener("click", () => {
        const name = session.device_model || "this device";
        if (!window.confirm("End the session on " + name + "? That device is logged out of the account.")) return;
        busy(button, async () => {
          await api("DELETE", base + "/sessions/" + encodeURIComponent(session.hash));
          toast("Session ended");
          await load();
        }, errors);
      });
      return button;
    }

    const columns = [
      { label: "Device", value: (s) => [s.device_model || "—", s.current ? [" ", badge("ready", "this gateway")] : null] },
      { label: "App", value: (s) => parts(s.app_name, s.app_version) },
      { label: "System", value: (s) => parts(s.platform, s.system_version) },
      { label: "Where", value: place },
      { label: "Last active", value: (s) => when(s.date_active) },
      { label: "End", value: (s) => (s.current ? h("span", { class: "muted small", text: "log out to end it" }) : endButton(s)) },
    ];

    async function load() {
      if (!loggedIn) {
        errors.clear();
        replace(list, h("p", { class: "muted", text: "Log the instance in to see where the account is logged in." }));
        return;
      }
      try {
        const answer = await api("GET", base + "/sessions");
        errors.clear();
        const rows = answer.data.map((s) => Object.assign({ __key: s.hash }, s));
        replace(list, table(columns, rows, "No sessions."));
      } catch (err) {
        errors.show(err);
      }
    }

    function renderAlerts(alerts) {
      if (!alerts.length) return replace(alertsSlot);
      return replace(alertsSlot, h("div", { class: "notice", role: "status" },
        h("strong", { text: "Logins from other devices" }),
        h("ul", {}, alerts.map((a) => h("li", { "data-alert": a.id },
          when(a.date), " — ", a.device || "an unknown device",
          a.location ? " (" + a.location + ")" : "",
          a.unconfirmed ? [" ", badge("pending", "unconfirmed")] : null))),
        h("p", { class: "muted small", text: "Not you or your team? End that session below." })));
    }

    refresh.addEventListener("click", () => busy(refresh, load, errors));

    const node = h("section", { class: "card", id: "sessions-card", "aria-labelledby": "sessions-title" },
      h("div", { class: "row spread" }, h("h2", { id: "sessions-title", text: "Sessions" }), refresh),
      h("p", { class: "muted small", text: "Where this Telegram account is logged in." }),
      alertsSlot,
      errors.node,
      list);

    return {
      node,
      update(inst) {
        const alerts = inst.login_alerts || [];
        renderAlerts(alerts);
        const newest = alerts.length ? alerts[0].id : null;
        const fresh = newestAlert !== undefined && newest !== null && newest !== newestAlert;
        if (fresh) toast("New login to the account: " + (alerts[0].device || "an unknown device"));
        newestAlert = newest;
        const nowLoggedIn = LOGGED_IN.includes(inst.status);
        if (nowLoggedIn !== loggedIn || fresh) {
          loggedIn = nowLoggedIn;
          load();
        }
      },
    };
  }

  // "Is this account limited?": asks @SpamBot (POST .../check) and shows its answer; the check
  // also sets the instance status (restricted, frozen, or ready again).
  function standingPanel(base) {
    const errors = errorBox();
    const result = h("div", { id: "standing-result" });
    const button = h("button", { class: "button", type: "button", id: "standing-check", text: "Check with @SpamBot" });
    const CONDITIONS = { ok: ["ready", "not limited"], restricted: ["restricted", "limited"], frozen: ["frozen", "frozen"] };
    let running = false;
    let loggedIn = false;

    function show(answer) {
      const [status, label] = CONDITIONS[answer.condition] || ["pending", answer.condition];
      replace(result, h("div", { role: "status" },
        h("p", {}, badge(status, label), " ", h("span", { class: "muted small", text: "checked " + when(answer.checked_at) })),
        h("blockquote", { class: "small", text: answer.reply }),
        answer.until ? h("p", { class: "small", text: "Limited until " + when(answer.until) }) : null));
    }

    button.addEventListener("click", () => busy(button, async () => {
      replace(result, h("p", { class: "muted small", text: "Asking @SpamBot… (up to 20 s)" }));
      running = true;
      try {
        const answer = await api("POST", base + "/check");
        show(answer);
        toast("Instance status: " + answer.status);
      } catch (err) {
        replace(result);
        throw err;
      } finally {
        running = false;
      }
    }, errors).then(() => { button.disabled = !loggedIn; }));

    const node = h("section", { class: "card", id: "standing-card", "aria-labelledby": "standing-title" },
      h("div", { class: "row spread" }, h("h2", { id: "standing-title", text: "Is this account limited?" }), button),
      h("p", { class: "muted small", text: "Telegram's @SpamBot says whether spam reports limit the account. A limited account may still answer people who wrote first." }),
      errors.node,
      result);

    return {
      node,
      update(inst) {
        loggedIn = LOGGED_IN.includes(inst.status);
        button.disabled = running || !loggedIn;
      },
    };
  }

  // --- API clients -----------------------------------------------------------------------------

  function expiryValue(dateInput) {
    // A day chosen in the form: the client works until the end of that day (UTC).
    return dateInput ? dateInput + "T23:59:59Z" : null;
  }

  // A key's limits as a form holds them; null: no limit (every scope ticked means no limit, so
  // a scope added to the gateway later is included).
  function limitsOf(data) {
    const scopes = data.getAll("scopes").map(String);
    const listed = (name) => String(data.get(name) || "").split(/[\s,]+/).filter(Boolean);
    const instances = listed("instances");
    const quota = String(data.get("daily_quota") || "").trim();
    const networks = listed("ip_allow");
    return {
      scopes: scopes.length !== SCOPES.length ? scopes : null,
      instances: instances.length ? instances.map(Number) : null,
      daily_quota: quota ? Number(quota) : null,
      ip_allow: networks.length ? networks : null,
    };
  }

  // The fields of a key's limits, filled with `client`'s (none: a new client's).
  function limitFields(prefix, client) {
    const has = (scope) => !client || !client.scopes || client.scopes.includes(scope);
    const text = (values) => (client && values ? values.join(", ") : "");
    return [
      h("fieldset", { class: "checks-set", id: prefix + "-scopes" },
        h("legend", { text: "Scopes (what the key may do)" }),
        h("div", { class: "checks" },
          SCOPES.map((scope) => h("label", { class: "check" },
            h("input", { type: "checkbox", name: "scopes", value: scope, checked: has(scope) }), scope)))),
      h("label", { for: prefix + "-instances", text: "Instances (optional, e.g. 1, 2; empty: every instance)" }),
      h("input", { id: prefix + "-instances", name: "instances", type: "text", inputmode: "numeric", spellcheck: "false", value: text(client && client.instances) }),
      h("label", { for: prefix + "-quota", text: "Daily quota (optional, messages a day; the deployment's applies as well)" }),
      h("input", { id: prefix + "-quota", name: "daily_quota", type: "number", min: "1", step: "1", value: client && client.daily_quota !== null ? String(client.daily_quota) : "" }),
      h("label", { for: prefix + "-ip-allow", text: "IP allow-list (optional, addresses or CIDR networks, e.g. 10.0.0.0/8; empty: any)" }),
      h("input", { id: prefix + "-ip-allow", name: "ip_allow", type: "text", spellcheck: "false", value: text(client && client.ip_allow) }),
    ];
  }

  function viewClients(root) {
    const errors = errorBox();
    const slot = h("div", { id: "secret-slot" });
    const list = h("div", { id: "clients" });
    const form = h("form", { id: "client-form", class: "card", autocomplete: "off" },
      h("h2", { text: "New API client" }),
      h("label", { for: "client-id", text: "Client id (e-mail-like, e.g. ops@example.com)" }),
      h("input", { id: "client-id", name: "client_id", type: "text", inputmode: "email", required: true, spellcheck: "false" }),
      h("label", { for: "client-expires", text: "Expires (optional, end of that day UTC)" }),
      h("input", { id: "client-expires", name: "expires", type: "date" }),
      limitFields("client", null),
      h("button", { class: "button primary", type: "submit", text: "Create the client" }));
    onSubmit(form, async (data) => {
      const body = { client_id: String(data.get("client_id")).trim() };
      const expires = expiryValue(String(data.get("expires") || ""));
      if (expires) body.expires_at = expires;
      for (const [name, value] of Object.entries(limitsOf(data))) {
        if (value !== null) body[name] = value; // a new client: only the limits set
      }
      const answer = await api("POST", "clients", body);
      form.reset();
      secretBox(slot, "Secret of " + answer.client_id, answer.client_secret,
        "Send it as X-WM-CLIENT-SECRET with X-WM-CLIENT-ID: " + answer.client_id + ".");
      await refresh();
    }, errors);

    async function act(button, work) {
      await busy(button, async () => {
        await work();
        await refresh();
      }, errors);
    }

    function actions(client) {
      const date = h("input", { type: "date", "aria-label": "New expiry of " + client.client_id });
      const renew = h("button", { class: "button", type: "button", text: "Renew" });
      renew.addEventListener("click", () => act(renew, async () => {
        await api("POST", "clients/" + encodeURIComponent(client.client_id) + "/renew",
          { expires_at: expiryValue(date.value) });
        toast(date.value ? "Renewed until " + date.value : "Renewed: it never expires");
      }));
      const rotate = h("button", { class: "button", type: "button", text: "Rotate secret" });
      rotate.addEventListener("click", () => {
        if (!window.confirm("Give " + client.client_id + " a new secret? The old one stops working at once.")) return;
        act(rotate, async () => {
          const answer = await api("POST", "clients/" + encodeURIComponent(client.client_id) + "/rotate");
          secretBox(slot, "New secret of " + client.client_id, answer.client_secret, "The old secret no longer works.");
        });
      });
      const revoke = h("button", { class: "button danger", type: "button", text: "Revoke", disabled: client.state === "revoked" });
      revoke.addEventListener("click", () => {
        if (!window.confirm("Revoke " + client.client_id + "? Its requests are refused from now on.")) return;
        act(revoke, async () => {
          await api("POST", "clients/" + encodeURIComponent(client.client_id) + "/revoke");
          toast(client.client_id + " revoked");
        });
      });
      return h("div", { class: "actions" },
        h("div", { class: "inline-form" }, date, renew), rotate, revoke, limitsEditor(client));
    }

    // Changing a key's scopes, instances, quota and IP list in place (PATCH: every field is
    // sent, an empty one lifts that limit).
    function limitsEditor(client) {
      const prefix = "limits-" + client.client_id.replace(/[^A-Za-z0-9]/g, "-");
      const save = h("button", { class: "button", type: "submit", text: "Save limits" });
      const edit = h("form", { class: "limits-form", autocomplete: "off" },
        limitFields(prefix, client), save);
      onSubmit(edit, async (data) => {
        await api("PATCH", "clients/" + encodeURIComponent(client.client_id), limitsOf(data));
        toast("Limits of " + client.client_id + " saved");
        await refresh();
      }, errors);
      return h("details", { class: "format-edit" }, h("summary", { text: "Edit limits" }), edit);
    }

    async function refresh() {
      const answer = await api("GET", "clients");
      replace(list, table([
        { label: "Client id", value: (c) => h("span", { class: "mono", text: c.client_id }) },
        { label: "State", value: (c) => badge(c.state) },
        { label: "Created", value: (c) => when(c.created_at) },
        { label: "Expires", value: (c) => (c.expires_at ? when(c.expires_at) : "never") },
        { label: "Revoked", value: (c) => when(c.revoked_at) },
        { label: "Scopes", value: (c) => (c.scopes ? c.scopes.join(", ") : "all") },
        { label: "Instances", value: (c) => (c.instances ? c.instances.join(", ") : "all") },
        { label: "Daily quota", value: (c) => (c.daily_quota === null ? "deployment's" : String(c.daily_quota)) },
        { label: "IP allow-list", value: (c) => h("span", { class: "mono", text: c.ip_allow ? c.ip_allow.join(", ") : "any" }) },
        { label: "Last used", value: (c) => (c.last_used_at ? when(c.last_used_at) : "never") },
        { label: "Actions", cls: "actions-cell", value: actions },
      ], answer.data.map((c) => Object.assign({ __key: c.client_id }, c)),
      "No API clients yet: create one above."));
    }

    append(root, [
      h("h1", { text: "API clients" }),
      h("p", { class: "muted", text: "Applications send with X-WM-CLIENT-ID and X-WM-CLIENT-SECRET." }),
      errors.node,
      slot,
      form,
      h("section", { class: "card" }, h("h2", { text: "Clients" }), list),
    ]);
    busy(null, refresh, errors);
  }

  // --- recipients and messages ------------------------------------------------------------------

  function select(id, label, options, chosen) {
    return [
      h("label", { for: id, text: label }),
      h("select", { id, name: id },
        options.map(([value, text]) => h("option", { value, selected: value === chosen, text }))),
    ];
  }

  function viewRecipients(root) {
    const errors = errorBox();
    const list = h("div", { id: "recipients" });
    const form = h("form", { class: "card inline-form", id: "recipient-filter" },
      h("div", {}, select("recipient-status", "Status", RECIPIENT_STATUSES.map((s) => [s, s]), "registered")),
      h("button", { class: "button", type: "submit", text: "Refresh" }));
    const status = form.querySelector("select");
    async function refresh() {
      const answer = await api("GET", "recipients?status=" + encodeURIComponent(status.value));
      replace(list, table([
        { label: "Number", value: (r) => phone(r.number) },
        { label: "Name", value: (r) => [r.first_name, r.last_name].filter(Boolean).join(" ") || "—" },
        { label: "Username", value: (r) => (r.username ? "@" + r.username : "—") },
        { label: "Language", value: (r) => r.language || "—" },
        { label: "Status", value: (r) => badge(r.status) },
        { label: "Instance", value: (r) => String(r.instance) },
        { label: "Registered", value: (r) => when(r.registered_at) },
        { label: "Unregistered", value: (r) => when(r.unregistered_at) },
      ], answer.data, "No recipients with this status. People register by saying Hi to the number."));
    }
    onSubmit(form, refresh, errors);
    status.addEventListener("change", () => busy(null, refresh, errors));
    append(root, [h("h1", { text: "Recipients" }), errors.node, form,
      h("section", { class: "card" }, list)]);
    busy(null, refresh, errors);
  }

  function viewMessages(root) {
    const errors = errorBox();
    const list = h("tbody");
    const more = h("button", { class: "button", type: "button", text: "Older messages", hidden: true });
    const empty = h("p", { class: "empty", text: "No messages with this status.", hidden: true });
    const form = h("form", { class: "card inline-form", id: "message-filter" },
      h("div", {}, select("message-status", "Status",
        [["", "any"], ...MESSAGE_STATUSES.map((s) => [s, s])], "")),
      h("button", { class: "button", type: "submit", text: "Refresh" }));
    const status = form.querySelector("select");
    const columns = [
      { label: "Created", value: (m) => when(m.created_at) },
      { label: "To", value: (m) => (m.to ? phone(m.to) : m.group_name ? "group " + m.group_name : "—") },
      { label: "Kind", value: (m) => m.kind },
      { label: "Status", value: (m) => badge(m.status) },
      { label: "Attempts", value: (m) => String(m.attempts) },
      { label: "Error", value: (m) => (m.error_code ? m.error_code + (m.error_detail ? ": " + m.error_detail : "") : "—") },
      { label: "Sent", value: (m) => when(m.sent_at) },
      { label: "Id", value: (m) => h("span", { class: "mono small", title: m.id, text: m.id }) },
    ];
    let next = null;

    async function load(reset) {
      const query = new URLSearchParams({ limit: "50" });
      if (status.value) query.set("status", status.value);
      if (!reset && next) query.set("after", next);
      const answer = await api("GET", "messages?" + query.toString());
      if (reset) list.replaceChildren();
      for (const m of answer.data) {
        append(list, h("tr", {}, columns.map((c) => h("td", { "data-label": c.label }, c.value(m)))));
      }
      next = answer.next;
      more.hidden = !next;
      empty.hidden = list.children.length > 0;
    }
    onSubmit(form, () => load(true), errors);
    status.addEventListener("change", () => busy(null, () => load(true), errors));
    more.addEventListener("click", () => busy(more, () => load(false), errors));
    append(root, [
      h("h1", { text: "Messages" }),
      h("p", { class: "muted", text: "Every client's messages, newest first." }),
      errors.node,
      form,
      h("section", { class: "card" },
        h("div", { class: "table-wrap" }, h("table", { id: "messages" },
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c.label })))),
          list)),
        empty, more),
    ]);
    busy(null, () => load(true), errors);
  }

  // --- webhooks ---------------------------------------------------------------------------------

  function notAvailable(root) {
    append(root, h("section", { class: "card", id: "webhooks-unavailable" },
      h("p", { class: "notice", text: "Webhooks are not available in this version of the gateway." }),
      h("p", { class: "muted", text: "Applications can read the same events from GET /api/v1/events." })));
  }

  function viewWebhooks(root) {
    const errors = errorBox();
    const slot = h("div", { id: "secret-slot" });
    const list = h("div", { id: "webhooks" });
    append(root, [h("h1", { text: "Webhooks" }), errors.node]);
    const generation = current();

    const url = h("input", { id: "webhook-url", name: "url", type: "url", required: true, placeholder: "the receiver's https URL", spellcheck: "false" });
    const boxes = EVENT_TYPES.map((type) => h("input", { type: "checkbox", name: "events", value: type }));
    const formatField = select("webhook-format", "Format", WEBHOOK_FORMATS, "standard");
    const format = formatField[1];
    const token = h("input", { id: "webhook-token", name: "token", type: "text", maxlength: "256", autocomplete: "off", spellcheck: "false", placeholder: "optional: sent as token in the whatsmate body" });
    const eventSet = h("fieldset", { class: "checks-set" },
      h("legend", { text: "Events (none ticked: every event)" }),
      h("div", { class: "checks" },
        boxes.map((box) => h("label", { class: "check" }, box, box.value))));
    // A whatsmate webhook receives message.received only: the filter does not apply to it.
    format.addEventListener("change", () => { eventSet.disabled = format.value === "whatsmate"; });
    const form = h("form", { id: "webhook-form", class: "card" },
      h("h2", { text: "New webhook" }),
      h("label", { for: "webhook-url", text: "URL" }), url,
      formatField,
      h("p", { class: "muted small", text: FORMAT_NOTE }),
      h("label", { for: "webhook-token", text: "Token (WhatsMate)" }), token,
      eventSet,
      h("button", { class: "button primary", type: "submit", text: "Create the webhook" }));
    onSubmit(form, async () => {
      const whatsmate = format.value === "whatsmate";
      const events = whatsmate ? [] : boxes.filter((b) => b.checked).map((b) => b.value);
      const answer = await api("POST", "webhooks", {
        url: url.value.trim(),
        events: events.length ? events : null,
        format: format.value,
        token: token.value ? token.value : null,
      });
      form.reset();
      eventSet.disabled = false;
      secretBox(slot, "Signing secret of " + answer.url, answer.secret,
        "Check the webhook-signature header with it (Standard Webhooks).", SHOWN_AGAIN);
      await refresh();
    }, errors);

    function actions(hook) {
      const id = encodeURIComponent(hook.id);
      const toggle = h("button", { class: "button", type: "button", text: hook.enabled ? "Disable" : "Enable" });
      toggle.addEventListener("click", () => busy(toggle, async () => {
        await api("PATCH", "webhooks/" + id, { enabled: !hook.enabled });
        await refresh();
      }, errors));
      const test = h("button", { class: "button", type: "button", text: "Send a test", disabled: !hook.enabled });
      test.addEventListener("click", () => busy(test, async () => {
        await api("POST", "webhooks/" + id + "/test");
        toast("Test event queued");
        await refresh();
      }, errors));
      const rotate = h("button", { class: "button", type: "button", text: "Rotate secret" });
      rotate.addEventListener("click", () => {
        if (!window.confirm("Give this webhook a new signing secret?")) return;
        busy(rotate, async () => {
          const answer = await api("POST", "webhooks/" + id + "/rotate-secret");
          secretBox(slot, "New signing secret of " + hook.url, answer.secret,
            answer.previous_secret_until ? "The old secret also signs until " + when(answer.previous_secret_until) + "." : null,
            SHOWN_AGAIN);
        }, errors);
      });
      const remove = h("button", { class: "button danger", type: "button", text: "Delete" });
      remove.addEventListener("click", () => {
        if (!window.confirm("Delete the webhook " + hook.url + "?")) return;
        busy(remove, async () => {
          await api("DELETE", "webhooks/" + id);
          toast("Webhook deleted");
          await refresh();
        }, errors);
      });
      return h("div", { class: "actions" },
        h("a", { class: "button", href: "#/webhooks/" + id, text: "Deliveries" }),
        toggle, test, rotate, remove);
    }

    // The format and the token of one webhook, changed in place. The token field shows the
    // current token (read when the form is opened); saved empty, it removes the token.
    function formatCell(hook) {
      const id = encodeURIComponent(hook.id);
      const key = "webhook-format-" + hook.id;
      const field = select(key, "Format", WEBHOOK_FORMATS, hook.format);
      const tokenInput = h("input", { id: key + "-token", name: "token", type: "text", maxlength: "256", autocomplete: "off", spellcheck: "false" });
      const save = h("button", { class: "button", type: "submit", text: "Save" });
      const edit = h("form", { class: "format-form" }, field,
        h("label", { for: key + "-token", text: "Token" }), tokenInput, save);
      const details = h("details", { class: "format-edit" }, h("summary", { text: "Change" }), edit);
      details.addEventListener("toggle", () => {
        if (!details.open) return;
        busy(null, async () => {
          const one = await api("GET", "webhooks/" + id);
          tokenInput.value = one.token || "";
        }, errors);
      });
      onSubmit(edit, async () => {
        const change = { format: field[1].value, token: tokenInput.value ? tokenInput.value : null };
        if (change.format === "whatsmate") change.events = null; // message.received only
        await api("PATCH", "webhooks/" + id, change);
        toast("Webhook saved");
        await refresh();
      }, errors);
      return [
        h("span", { class: "webhook-format", "data-format": hook.format, text: hook.format }),
        hook.token_set ? h("div", { class: "muted small", text: "token set" }) : null,
        details,
      ];
    }

    function counts(hook) {
      const c = hook.deliveries || {};
      return DELIVERY_STATUSES.filter((s) => c[s]).map((s) => s + " " + c[s]).join(", ") || "—";
    }

    async function refresh() {
      const answer = await api("GET", "webhooks");
      replace(list, table([
        { label: "URL", value: (w) => h("span", { class: "mono", text: w.url }) },
        { label: "Format", value: formatCell },
        { label: "Events", value: (w) => (w.events ? w.events.join(", ") : "all") },
        { label: "Status", value: (w) => [badge(w.enabled ? "enabled" : "disabled"),
          w.disabled_reason ? h("div", { class: "muted small", text: w.disabled_reason }) : null] },
        { label: "Deliveries", value: counts },
        { label: "Actions", cls: "actions-cell", value: actions },
      ], answer.data, "No webhooks yet."));
    }

    (async () => {
      try {
        await refresh();
      } catch (err) {
        if (generation !== current()) return;
        if (err.status === 404) return notAvailable(root);
        errors.show(err);
        return;
      }
      if (generation !== current()) return;
      append(root, [slot, form, h("section", { class: "card" }, h("h2", { text: "Endpoints" }), list)]);
    })();
  }

  function viewDeliveries(root, endpointId) {
    const id = encodeURIComponent(endpointId);
    const errors = errorBox();
    const heading = h("p", { class: "muted mono" });
    const list = h("div", { id: "deliveries" });
    const older = h("button", { class: "button", type: "button", text: "Older deliveries", hidden: true });
    const form = h("form", { class: "card inline-form", id: "delivery-filter" },
      h("div", {}, select("delivery-status", "Status", [["", "any"], ...DELIVERY_STATUSES.map((s) => [s, s])], "")),
      h("button", { class: "button", type: "submit", text: "Refresh" }));
    const status = form.querySelector("select");
    let before = null;
    let rows = [];

    function attempts(d) {
      const log = d.attempt_log || [];
      if (!log.length) return String(d.attempts);
      return h("details", {},
        h("summary", { text: String(d.attempts) + " (log)" }),
        h("ul", {}, log.map((a) => h("li", { class: "small",
          text: when(a.attempted_at) + " — " + (a.status_code ? "HTTP " + a.status_code : "no answer") +
            (a.latency_ms !== null && a.latency_ms !== undefined ? ", " + a.latency_ms + " ms" : "") +
            (a.error ? ", " + a.error : "") + (a.response_excerpt ? ": " + a.response_excerpt : "") }))));
    }

    function replayButton(d) {
      const button = h("button", { class: "button", type: "button", text: "Replay",
        disabled: d.status === "pending" || d.status === "delivering" });
      button.addEventListener("click", () => busy(button, async () => {
        await api("POST", "deliveries/" + encodeURIComponent(d.id) + "/replay");
        toast("Delivery " + d.id + " queued again");
        await load(true);
      }, errors));
      return button;
    }

    async function load(reset) {
      const query = new URLSearchParams({ limit: "50" });
      if (status.value) query.set("status", status.value);
      if (!reset && before) query.set("before", String(before));
      const answer = await api("GET", "webhooks/" + id + "/deliveries?" + query.toString());
      rows = reset ? answer.data : rows.concat(answer.data);
      before = answer.next_before;
      older.hidden = !before;
      replace(list, table([
        { label: "Id", value: (d) => String(d.id) },
        { label: "Event", value: (d) => d.event_type + (d.event_seq ? " #" + d.event_seq : "") },
        { label: "Status", value: (d) => badge(d.status) },
        { label: "Attempts", value: attempts },
        { label: "Last answer", value: (d) => (d.last_status_code ? "HTTP " + d.last_status_code : "—") },
        { label: "Last error", value: (d) => d.last_error || "—" },
        { label: "Created", value: (d) => when(d.created_at) },
        { label: "Delivered / next", value: (d) => (d.delivered_at ? when(d.delivered_at) : d.next_attempt_at ? "next " + when(d.next_attempt_at) : "—") },
        { label: "", cls: "actions-cell", value: replayButton },
      ], rows, "No deliveries."));
    }

    async function describeEndpoint() {
      const answer = await api("GET", "webhooks");
      const hook = answer.data.find((w) => w.id === endpointId);
      heading.textContent = hook ? hook.url : "Endpoint " + endpointId;
    }

    onSubmit(form, () => load(true), errors);
    status.addEventListener("change", () => busy(null, () => load(true), errors));
    older.addEventListener("click", () => busy(older, () => load(false), errors));
    append(root, [
      h("p", {}, h("a", { href: "#/webhooks", text: "← All webhooks" })),
      h("h1", { text: "Deliveries" }),
      heading,
      errors.node,
      form,
      h("section", { class: "card" }, list, older),
    ]);
    (async () => {
      try {
        await describeEndpoint();
        await load(true);
      } catch (err) {
        if (err.status === 404 && err.code === "not_found" && !heading.textContent) {
          return notAvailable(root);
        }
        errors.show(err);
      }
    })();
  }

  // --- alerts -----------------------------------------------------------------------------------

  const SEVERITY_CLASS = { critical: "bad", warning: "warn", info: "idle" };

  // Recent operator alerts (GET /admin/alerts) and where they are sent (the alert webhook).
  function viewAlerts(root) {
    const errors = errorBox();
    const target = h("p", { class: "muted", id: "alert-webhook" });
    const list = h("div", { id: "alerts" });
    const older = h("button", { class: "button", type: "button", text: "Older alerts", hidden: true });
    const test = h("button", { class: "button", type: "button", text: "Send a test alert", hidden: true });
    let before = null;
    let rows = [];

    function severity(a) {
      return h("span", { class: "badge " + (SEVERITY_CLASS[a.severity] || "idle"),
        "data-severity": a.severity, text: a.severity });
    }

    function delivery(a) {
      if (!a.delivery) return "not sent";
      return badge(a.delivery.status);
    }

    async function load(reset) {
      const query = new URLSearchParams({ limit: "50" });
      if (!reset && before) query.set("before", String(before));
      const answer = await api("GET", "alerts?" + query.toString());
      rows = reset ? answer.data : rows.concat(answer.data);
      before = answer.next_before;
      older.hidden = !before;
      replace(list, table([
        { label: "When", value: (a) => when(a.created_at) },
        { label: "Severity", value: severity },
        { label: "Kind", value: (a) => a.kind },
        { label: "Instance", value: (a) => (a.instance === null ? "—" : String(a.instance)) },
        { label: "Summary", value: (a) => a.summary },
        { label: "Resolved", value: (a) => (a.resolved_at ? when(a.resolved_at) : "—") },
        { label: "Sent", value: delivery },
      ], rows, "No alerts."));
    }

    async function describeTarget() {
      try {
        const hook = await api("GET", "alerts/webhook");
        target.textContent = "Sent to " + hook.url + (hook.enabled ? "" : " (disabled)") +
          (hook.managed_by === "config" ? " — set by [alerts] url" : "");
        test.hidden = !hook.enabled;
      } catch (err) {
        if (err.status !== 404) throw err;
        target.textContent = "No alert webhook: alerts are recorded here only ([alerts] url, or PUT /admin/alerts/webhook).";
      }
    }

    test.addEventListener("click", () => busy(test, async () => {
      await api("POST", "alerts/test");
      toast("Test alert queued");
      await load(true);
    }, errors));
    older.addEventListener("click", () => busy(older, () => load(false), errors));
    append(root, [
      h("h1", { text: "Alerts" }),
      target,
      errors.node,
      h("p", {}, test),
      h("section", { class: "card" }, list, older),
    ]);
    (async () => {
      try {
        await describeTarget();
        await load(true);
      } catch (err) {
        errors.show(err);
      }
    })();
  }

  // --- cluster ----------------------------------------------------------------------------------

  // The processes sharing the database and who holds which instance's session (GET /admin/cluster).
  function viewCluster(root) {
    const errors = errorBox();
    const summary = h("p", { class: "muted", id: "cluster-summary" });
    const processes = h("div", { id: "cluster-processes" });
    const instances = h("div", { id: "cluster-instances" });

    function liveness(p) {
      return h("span", { class: "badge " + (p.live ? "good" : "bad"),
        "data-live": String(p.live), text: p.live ? "live" : "gone" });
    }

    async function load() {
      const c = await api("GET", "cluster");
      const names = {};
      for (const p of c.processes) names[p.id] = p.host + " pid " + p.pid;
      summary.textContent = c.live_workers + " live worker process" +
        (c.live_workers === 1 ? "" : "es") + ", each holding at most " + c.fair_share +
        " instance" + (c.fair_share === 1 ? "" : "s") +
        (c.unowned.length ? "; held by no process: " + c.unowned.join(", ") : ".");
      replace(processes, table([
        { label: "Process", value: (p) => names[p.id] + (p.this_process ? " (this one)" : "") },
        { label: "Role", value: (p) => p.role },
        { label: "State", value: liveness },
        { label: "Instances", value: (p) => (p.instances.length ? p.instances.join(", ") : "none") },
        { label: "Address", value: (p) => p.address || "—" },
        { label: "Last seen", value: (p) => when(p.heartbeat_at) },
      ], c.processes.map((p) => Object.assign({ __key: p.id }, p)), "No process has registered."));
      replace(instances, table([
        { label: "Instance", value: (i) => String(i.number) },
        { label: "Held by", value: (i) => (i.holder ? names[i.holder] || i.holder : "no process") },
        { label: "Lease until", value: (i) => when(i.lease_expires_at) },
      ], c.instances.map((i) => Object.assign({ __key: String(i.number) }, i)), "No instances."));
      errors.clear();
    }

    append(root, [
      h("h1", { text: "Cluster" }),
      summary,
      errors.node,
      h("section", { class: "card" }, h("h2", { text: "Processes" }), processes),
      h("section", { class: "card" }, h("h2", { text: "Sessions" }), instances),
    ]);
    every(5000, async () => {
      try {
        await load();
      } catch (err) {
        errors.show(err);
      }
    });
  }

  // --- start -------------------------------------------------------------------------------------

  async function start() {
    setUpSignIn();
    window.addEventListener("hashchange", route);
    try {
      const session = await api("GET", "session", undefined, { signingIn: true });
      signedIn(session);
    } catch (err) {
      signedOut(err.code === "unauthorized" || err.status === 401 ? "" : describe(err));
    }
  }

  start();
})();
