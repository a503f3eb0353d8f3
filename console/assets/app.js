// tokenguard admin console. Every value from the server is written with
// textContent (never parsed as markup), so a subject such as <img src=x onerror=…>
// shows as text. Every change carries the session's CSRF token.
"use strict";

(function () {
  const base = "/console/";
  let csrf = "";

  // el builds an element; string children become text nodes.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "href") e.setAttribute("href", v);
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  function $(sel) { return document.querySelector(sel); }

  function say(text, isError) {
    const m = $("#message");
    if (!m) return;
    m.textContent = text;
    m.classList.toggle("error", !!isError);
  }

  class APIError extends Error {
    constructor(status, body) {
      super((body && body.error_description) || "request failed (" + status + ")");
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body || {});
    }
    const resp = await fetch(base + "api/" + path, opts);
    if (resp.status === 204) return null;
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      if (resp.status === 401 && document.body.dataset.page !== "sign-in") {
        location.assign(base + "sign-in");
      }
      throw new APIError(resp.status, data);
    }
    return data;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    return q.toString();
  }

  function userHref(subject, issuer) {
    return base + "user?" + query({ subject, issuer });
  }

  // ready marks the page's data as shown; busy unmarks it while a load or
  // an action runs (the browser tests wait on it).
  function ready() { document.body.dataset.ready = "1"; }
  function busy() { delete document.body.dataset.ready; }

  function fail(err) {
    say(err.message || String(err), true);
    ready();
  }

  // ---- sign-in ----

  function signInPage() {
    $("#sign-in").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      say("");
      try {
        await api("POST", "sign-in", {
          client_id: $("#client-id").value,
          client_secret: $("#client-secret").value,
        });
        location.assign(base);
      } catch (err) {
        $("#client-secret").value = "";
        say(err.status === 401 ? "Wrong client id or secret." : err.message, true);
        $("#client-secret").focus();
      }
    });
    $("#client-id").focus();
    ready();
  }

  // ---- pages behind sign-in ----

  async function signedIn() {
    const me = await api("GET", "me");
    csrf = me.csrf;
    $("#who").textContent = me.client_id;
    $("#sign-out").addEventListener("click", async () => {
      try {
        await api("POST", "sign-out");
        location.assign(base + "sign-in");
      } catch (err) { fail(err); }
    });
  }

  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    return v.toLocaleString("en", { maximumFractionDigits: digits === undefined ? 0 : digits });
  }

  // ---- dashboard ----

  function dashboardPage() {
    let prev = null;
    const outcomes = ["allowed", "missing", "invalid", "expired", "revoked_token", "session_ended", "cut_off", "banned", "scope", "unavailable", "error"];

    function rate(cur, old, dt) {
      if (old === null || old === undefined || !(dt > 0)) return null;
      return Math.max(0, cur - old) / dt;
    }

    function row(label, r, total) {
      return el("tr", {}, el("th", { scope: "row", text: label }),
        el("td", { class: "num", text: r === null ? "…" : num(r, 2) }),
        el("td", { class: "num", text: num(total) }));
    }

    function render(d) {
      const dt = prev ? (Date.parse(d.at) - Date.parse(prev.at)) / 1000 : 0;
      const names = outcomes.concat(Object.keys(d.decisions).filter((o) => !outcomes.includes(o)).sort());
      $("#decisions").replaceChildren(...names.map((o) =>
        row(o, prev ? rate(d.decisions[o] || 0, prev.decisions[o] || 0, dt) : null, d.decisions[o] || 0)));
      const figures = [
        ["revocations", "Revocations"], ["sessions_opened", "Sessions opened"],
        ["sessions_ended", "Sessions ended"], ["client_auth_failures", "Failed client authentications"],
      ];
      $("#activity").replaceChildren(...figures.map(([k, label]) =>
        row(label, prev ? rate(d[k], prev[k], dt) : null, d[k])));
      const kinds = Object.keys(d.mirror_entries).sort();
      $("#mirror").replaceChildren(...(kinds.length ? kinds.map((k) =>
        el("tr", {}, el("th", { scope: "row", text: k }), el("td", { class: "num", text: num(d.mirror_entries[k]) })))
        : [el("tr", {}, el("td", { colSpan: 2, text: "No mirror (strict mode)." }))]));
      $("#shards").replaceChildren(...d.shard_staleness.map((s, i) => {
        const li = el("li", { text: i + ": " + (s === null ? "not loaded" : num(s, 2)) });
        if (s === null || s > d.stale_after_seconds) li.classList.add("stale");
        return li;
      }));
      const r = d.redis;
      const errRate = prev ? rate(r.command_errors, prev.redis.command_errors, dt) : null;
      $("#redis").replaceChildren(
        el("dt", { text: "Health" }), el("dd", { class: r.ok ? "good" : "bad", text: r.ok ? "answering" : "not answering: " + r.error }),
        el("dt", { text: "Ping" }), el("dd", { text: r.ok ? num(r.ping_ms, 2) + " ms" : "–" }),
        el("dt", { text: "Command errors" }), el("dd", { text: num(r.command_errors) + " total" + (errRate === null ? "" : ", " + num(errRate, 2) + "/s") }),
        el("dt", { text: "Connections" }), el("dd", { text: num(r.connections) + " (" + num(r.idle_connections) + " idle)" }),
      );
      prev = d;
    }

    async function poll() {
      try {
        render(await api("GET", "dashboard"));
        say("");
        ready();
        document.body.dataset.readings = String(Number(document.body.dataset.readings || 0) + 1);
      } catch (err) { fail(err); }
    }
    poll();
    setInterval(poll, 2000);
  }

  // ---- users ----

  function usersPage() {
    const form = $("#search");
    const input = $("#subject");

    async function search(subject) {
      busy();
      say("Searching…");
      try {
        const data = await api("GET", "users?" + query({ subject }));
        const tbody = $("#results tbody");
        tbody.replaceChildren(...data.users.map((u) => el("tr", {},
          el("td", {}, el("a", { href: userHref(u.subject, u.issuer), text: u.subject })),
          el("td", { text: u.issuer || "ours" }),
          el("td", { text: u.banned ? "banned" : (u.known ? "active" : "nothing recorded") }),
          el("td", { class: "num", text: num(u.sessions) }))));
        $("#results").hidden = false;
        say(data.users.length === 1 ? "1 user found." : data.users.length + " users found.");
        ready();
      } catch (err) { fail(err); }
    }

    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const s = input.value;
      history.replaceState(null, "", base + "users?" + query({ subject: s }));
      search(s);
    });
    const s = new URLSearchParams(location.search).get("subject");
    if (s) { input.value = s; search(s); } else { ready(); }
    input.focus();
  }

  // ---- one user ----

  function eventRow(e, withUser) {
    const cells = [el("td", { class: "mono", text: e.time }), el("td", { text: e.type }), el("td", { text: e.actor })];
    if (withUser) {
      cells.push(el("td", {}, e.subject ? el("a", { href: userHref(e.subject, e.issuer), text: e.subject }) : ""));
      cells.push(el("td", { text: e.issuer || (e.subject ? "ours" : "") }));
    }
    cells.push(el("td", { class: "mono", text: e.session_id }), el("td", { text: e.reason }));
    return el("tr", { "data-id": e.id }, ...cells);
  }

  // confirmThen asks, in a modal dialog, before running action. The
  // dialog's form (method=dialog) closes it on either button; the submit
  // event says which one, at once. Escape cancels.
  let pending = null;
  function confirmThen(text, action) {
    const dlg = $("#confirm");
    $("#confirm-text").textContent = text;
    pending = action;
    dlg.showModal();
    $("#confirm-no").focus();
  }
  function setUpConfirm() {
    const dlg = $("#confirm");
    dlg.querySelector("form").addEventListener("submit", (ev) => {
      const action = pending;
      pending = null;
      if (ev.submitter && ev.submitter.value === "yes" && action) action();
    });
    dlg.addEventListener("cancel", () => { pending = null; });
  }

  function userPage() {
    const params = new URLSearchParams(location.search);
    const subject = params.get("subject") || "";
    const issuer = params.get("issuer") || "";
    const who = { subject, issuer };
    let next = "";

    $("#user-title").textContent = subject;
    document.title = subject + " · tokenguard console";
    $("#user-issuer").textContent = issuer ? "A user of the trusted issuer " + issuer : "A user of this tokenguard";
    $("#all-user-events").setAttribute("href", base + "events?" + query(who));

    function sessionRow(s) {
      const end = el("button", { type: "button", class: "end-session", "data-id": s.id, text: "End session" });
      end.setAttribute("aria-label", "End the session of " + (s.device_name || "an unnamed device") + " created " + s.created_at);
      end.addEventListener("click", () => act("sessions/end", { id: s.id }, "Session ended."));
      return el("tr", { "data-id": s.id },
        el("td", { text: s.device_name || "–" }), el("td", { text: s.ip || "–" }),
        el("td", { text: s.user_agent || "–" }), el("td", { text: s.client_id }),
        el("td", { class: "mono", text: s.created_at }), el("td", { class: "mono", text: s.last_used_at }),
        el("td", {}, end));
    }

    function showSessions(list, append) {
      const rows = list.sessions.map(sessionRow);
      const tbody = $("#sessions tbody");
      if (append) tbody.append(...rows); else tbody.replaceChildren(...rows);
      next = list.next_before;
      $("#more-sessions").hidden = !next;
      $("#no-sessions").hidden = tbody.children.length > 0;
    }

    async function load() {
      const u = await api("GET", "user?" + query(who));
      const facts = [
        ["Banned", u.banned ? "yes" : "no"],
      ];
      if (u.ban) {
        facts.push(["Until", u.ban.until || "lifted by an admin"], ["Reason", u.ban.reason || "–"],
          ["Banned by", u.ban.by], ["Since", u.ban.at]);
      }
      facts.push(["Cut-off", u.revoked_before ? "tokens issued up to " + u.revoked_before : "none"],
        ["Live sessions", String(u.sessions)]);
      $("#status").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
      $("#status").dataset.banned = u.banned ? "yes" : "no";
      $("#unban").hidden = !u.banned;
      showSessions(u.live, false);
      const ev = await api("GET", "events?" + query(Object.assign({ limit: "20" }, who)));
      $("#user-events tbody").replaceChildren(...ev.events.map((e) => eventRow(e, false)));
    }

    async function act(path, body, done) {
      busy();
      say("Working…");
      try {
        await api("POST", path, body);
        await load();
        say(done);
        ready();
      } catch (err) { fail(err); }
    }

    setUpConfirm();
    $("#logout-everywhere").addEventListener("click", () => {
      confirmThen("Log " + subject + " out everywhere? Every session and every token issued until now ends.",
        () => act("user/logout", who, "Logged out everywhere."));
    });
    $("#unban").addEventListener("click", () => act("user/unban", who, "Ban lifted."));
    $("#ban").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const sel = $("#ban-duration");
      const duration = sel.value;
      const reason = $("#ban-reason").value;
      const label = sel.options[sel.selectedIndex].text;
      confirmThen("Ban " + subject + " " + (duration ? "for " + label : "until lifted") + "? Every session ends and every token is refused.",
        () => act("user/ban", Object.assign({ duration, reason }, who), "User banned."));
    });
    $("#more-sessions").addEventListener("click", async () => {
      try {
        showSessions(await api("GET", "user/sessions?" + query(Object.assign({ before: next }, who))), true);
      } catch (err) { fail(err); }
    });

    load().then(ready, fail);
  }

  // ---- audit trail ----

  function newer(a, b) {
    const [am, as] = a.split("-").map(Number);
    const [bm, bs] = b.split("-").map(Number);
    return am > bm || (am === bm && as > bs);
  }

  function eventsPage() {
    const params = new URLSearchParams(location.search);
    const filter = { type: params.get("type") || "", subject: params.get("subject") || "", issuer: params.get("issuer") || "" };
    let before = "";
    let next = "";
    let typesShown = false;

    $("#filter-subject").value = filter.subject;
    $("#filter-issuer").value = filter.issuer;

    function showTypes(types) {
      if (typesShown) return;
      typesShown = true;
      const sel = $("#filter-type");
      sel.append(...types.map((t) => el("option", { value: t, text: t })));
      sel.value = filter.type;
    }

    function show(data) {
      showTypes(data.types);
      $("#events tbody").replaceChildren(...data.events.map((e) => eventRow(e, true)));
      $("#no-events").hidden = data.events.length > 0;
      next = data.next_before;
      $("#older").hidden = !next;
      $("#newest").hidden = before === "";
    }

    async function load() {
      show(await api("GET", "events?" + query(Object.assign({ before }, filter))));
    }

    // poll puts new events on top while the first page is shown.
    async function poll() {
      if (before !== "") return;
      try {
        const data = await api("GET", "events?" + query(filter));
        const tbody = $("#events tbody");
        const top = tbody.firstElementChild ? tbody.firstElementChild.dataset.id : "";
        const fresh = data.events.filter((e) => !top || newer(e.id, top));
        if (fresh.length === 0) return;
        tbody.prepend(...fresh.map((e) => { const r = eventRow(e, true); r.classList.add("new"); return r; }));
        $("#no-events").hidden = true;
        say(fresh.length === 1 ? "1 new event." : fresh.length + " new events.");
      } catch (err) { fail(err); }
    }

    $("#filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      filter.type = $("#filter-type").value;
      filter.subject = $("#filter-subject").value;
      filter.issuer = $("#filter-issuer").value;
      history.replaceState(null, "", base + "events?" + query(filter));
      before = "";
      busy();
      load().then(() => { say(""); ready(); }, fail);
    });
    $("#older").addEventListener("click", () => {
      before = next;
      busy();
      load().then(ready, fail);
    });
    $("#newest").addEventListener("click", () => {
      before = "";
      busy();
      load().then(ready, fail);
    });

    load().then(ready, fail);
    setInterval(poll, 2000);
  }

  const pages = { dashboard: dashboardPage, users: usersPage, user: userPage, events: eventsPage };

  document.addEventListener("DOMContentLoaded", async () => {
    const page = document.body.dataset.page;
    if (page === "sign-in") { signInPage(); return; }
    try {
      await signedIn();
    } catch (err) {
      if (err.status !== 401) fail(err);
      return;
    }
    pages[page]();
  });
})();
