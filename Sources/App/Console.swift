import Control

/// The operator's console at `/` on the control listener: one HTML page, its stylesheet and its script, all
/// embedded here (no CDN, no external fonts, no build step). It reads `/status` and `/v1/events/stream` like any
/// client; setting and clearing overrides goes through `/v1/overrides` with the bearer token the operator types
/// in (kept in the tab's session storage only). Without a token it is read-only.
enum Console {
    /// The console's files by path, with their content types.
    static let assets: [String: (type: String, body: String)] = [
        "/": ("text/html; charset=utf-8", html),
        "/console.css": ("text/css; charset=utf-8", css),
        "/console.js": ("text/javascript; charset=utf-8", js),
        "/favicon.svg": ("image/svg+xml", icon),
    ]

    /// Everything the page loads comes from this listener; nothing inline, nothing from elsewhere.
    static let securityHeaders: [(name: String, value: String)] = [
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]

    static func response(_ path: String) -> ControlResponse? {
        guard let a = assets[path] else { return nil }
        return ControlResponse(status: 200, contentType: a.type, body: Array(a.body.utf8), headers: securityHeaders)
    }

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>gtmd console</title>
        <link rel="stylesheet" href="/console.css">
        <link rel="icon" href="/favicon.svg" type="image/svg+xml">
        <script src="/console.js" defer></script>
        </head>
        <body>
        <header>
          <h1>gtmd</h1>
          <span id="ready" class="badge">loading</span>
          <span id="generation"></span>
          <span id="live" class="badge">events: connecting</span>
          <span class="grow"></span>
          <form id="token-form" autocomplete="off">
            <label for="token">control token</label>
            <input id="token" type="password" placeholder="read-only without it">
            <button id="token-use" type="submit">use</button>
            <button id="token-forget" type="button">forget</button>
          </form>
        </header>
        <main>
        <section>
          <h2>Services <small>what each client region is answered now</small></h2>
          <table id="services">
            <thead><tr><th>service</th><th>client region</th><th>answer</th><th>pool</th><th>TTL</th><th>why</th></tr></thead>
            <tbody></tbody>
          </table>
        </section>
        <section>
          <h2>Pools and members <small>check states, latency of the last probes</small></h2>
          <div id="pools"></div>
        </section>
        <section id="fleet" hidden>
          <h2>Fleet <small id="fleet-summary"></small></h2>
          <p id="fleet-store"></p>
          <table id="fleet-members">
            <thead><tr><th>node</th><th>vantage</th><th>started</th><th>version</th></tr></thead>
            <tbody></tbody>
          </table>
          <table id="fleet-targets">
            <thead><tr><th>target</th><th>per vantage</th><th>this node</th><th>used</th></tr></thead>
            <tbody></tbody>
          </table>
          <ul id="fleet-problems" class="mute"></ul>
        </section>
        <section class="split">
          <div>
            <h2>Overrides</h2>
            <table id="overrides">
              <thead><tr><th>override</th><th>expires</th><th></th></tr></thead>
              <tbody></tbody>
            </table>
            <form id="override-form" autocomplete="off">
              <fieldset>
                <legend>set an override</legend>
                <select id="o-scope"><option>pool</option><option>member</option><option>service</option></select>
                <input id="o-target" list="o-targets" placeholder="target" required>
                <datalist id="o-targets"></datalist>
                <select id="o-action"><option>down</option><option>up</option><option>pin</option><option>release</option></select>
                <input id="o-pool" placeholder="pool (pin)">
                <input id="o-for" placeholder="for (e.g. 30m)">
                <input id="o-note" placeholder="note">
                <button id="o-set" type="submit">set</button>
              </fieldset>
              <p id="override-result" role="status"></p>
            </form>
          </div>
          <div>
            <h2>Timeline <small>newest first</small></h2>
            <ol id="timeline"></ol>
          </div>
        </section>
        </main>
        </body>
        </html>

        """#

    static let icon = #"""
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1f7a3a"/></svg>

        """#

    static let css = #"""
        :root { --bg: #fbfbfa; --fg: #1d1d1b; --mute: #6b6b66; --ok: #1f7a3a; --bad: #b3261e; --warn: #9a6700;
          --line: #dedcd6; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        body { margin: 0; }
        header { display: flex; gap: .8em; align-items: center; padding: .5em 1em; border-bottom: 1px solid var(--line);
          position: sticky; top: 0; background: var(--bg); flex-wrap: wrap; }
        h1 { font-size: 1.2em; margin: 0; } h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
        h2 small { color: var(--mute); font-weight: normal; margin-left: .5em; }
        main { padding: 0 1em 2em; }
        .grow { flex: 1; }
        .badge { border: 1px solid var(--line); border-radius: 1em; padding: 0 .6em; color: var(--mute); }
        .ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); } .mute { color: var(--mute); }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--mute); font-weight: 600; }
        td.answer, .mono { font-family: ui-monospace, monospace; }
        #pools { display: grid; grid-template-columns: repeat(auto-fill, minmax(22em, 1fr)); gap: .8em; }
        .pool { border: 1px solid var(--line); border-radius: .4em; padding: .5em .7em; background: #fff; }
        .pool h3 { margin: 0 0 .3em; font-size: 1em; }
        .member { margin: .4em 0 0; }
        .check { display: flex; gap: .5em; align-items: center; color: var(--mute); font-size: .92em; }
        svg.spark { width: 120px; height: 24px; flex: none; }
        svg.spark polyline { fill: none; stroke: #4b6cb7; stroke-width: 1.5; }
        svg.spark circle { fill: var(--bad); }
        .split { display: grid; grid-template-columns: 1fr 1.4fr; gap: 1.5em; }
        @media (max-width: 900px) { .split { grid-template-columns: 1fr; } }
        #timeline { list-style: none; padding: 0; margin: 0; max-height: 34em; overflow: auto; }
        #timeline li { border-left: 3px solid var(--line); padding: .2em .6em; margin: .3em 0; }
        #timeline li.switch { border-color: var(--warn); } #timeline li.health.down { border-color: var(--bad); }
        #timeline li.health.up { border-color: var(--ok); }
        #timeline .when { color: var(--mute); font-family: ui-monospace, monospace; margin-right: .5em; }
        #timeline .detail { color: var(--mute); font-size: .92em; }
        fieldset { border: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: .4em; }
        fieldset:disabled { opacity: .55; }
        input, select, button { font: inherit; }

        """#

    static let js = #"""
        "use strict";
        // gtmd console: reads /status and the event stream; sets and clears overrides with the token.
        const $ = (s) => document.querySelector(s);
        let status = null;
        const events = [];
        let token = sessionStorage.getItem("gtmd-token") || "";

        function el(tag, attrs, ...kids) {
          const e = document.createElement(tag);
          for (const [k, v] of Object.entries(attrs || {})) {
            if (k === "class") e.className = v; else e.setAttribute(k, v);
          }
          for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
          return e;
        }
        const time = (d) => new Date(d).toLocaleTimeString([], { hour12: false });
        function left(until) {
          let s = Math.round((new Date(until) - Date.now()) / 1000);
          if (s <= 0) return "expired";
          const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); s %= 60;
          return "in " + (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
        }

        async function refresh() {
          try {
            const r = await fetch("/status", { cache: "no-store" });
            status = await r.json();
            render();
          } catch (e) { $("#ready").textContent = "unreachable"; $("#ready").className = "badge bad"; }
        }
        let refreshSoon = null;
        function refreshAfterEvent() { clearTimeout(refreshSoon); refreshSoon = setTimeout(refresh, 50); }

        function render() {
          $("#ready").textContent = status.ready ? "ready" : "not ready";
          $("#ready").className = "badge " + (status.ready ? "ok" : "bad");
          $("#generation").textContent = "table generation " + status.generation;
          renderServices(); renderPools(); renderOverrides(); renderTargets(); renderFleet();
        }

        // The fleet view: only when a fleet is configured (/status has a fleet section).
        function renderFleet() {
          const f = status.fleet;
          $("#fleet").hidden = !f;
          if (!f) return;
          const verdict = (v) => v === true ? "up" : v === false ? "down" : "-";
          $("#fleet-summary").textContent = f.name + ": node " + f.node + " (vantage " + f.vantage + "), quorum " +
            f.quorum + ", mode " + f.mode;
          const st = f.store;
          $("#fleet-store").textContent = "store " + (st.connected ? "connected" : "lost") + " since " + time(st.since) +
            " (" + st.endpoints.join(", ") + ", revision " + st.revision + ", losses " + st.losses + ")" +
            (st.last_error ? ": " + st.last_error : "") + "; on store loss: " + f.on_store_loss;
          $("#fleet-store").className = st.connected ? "" : "bad";
          const members = $("#fleet-members tbody");
          members.replaceChildren();
          for (const m of f.members) {
            members.append(el("tr", { "data-member": m.node },
              el("td", {}, m.node), el("td", {}, m.vantage), el("td", {}, time(m.started)), el("td", {}, m.version)));
          }
          const targets = $("#fleet-targets tbody");
          targets.replaceChildren();
          for (const t of f.targets) {
            const per = Object.keys(t.vantages).sort().map((v) => v + " " + verdict(t.vantages[v])).join(", ");
            targets.append(el("tr", { "data-fleet-target": t.target },
              el("td", {}, t.target), el("td", {}, per || "no vantage yet"),
              el("td", {}, verdict(t.local)), el("td", { class: t.used === false ? "bad" : "" }, verdict(t.used))));
          }
          const problems = $("#fleet-problems");
          problems.replaceChildren(...f.problems.map((p) => el("li", {}, p)));
        }

        function renderServices() {
          const body = $("#services tbody");
          body.replaceChildren();
          for (const s of status.services) {
            const rows = s.regions && s.regions.length ? s.regions :
              [{ region: "all clients", pool: s.pool, answer: s.answer, rcode: s.rcode, ttl: s.ttl, reason: s.reason, degraded: s.degraded }];
            rows.forEach((r, i) => {
              const tr = el("tr", { "data-service": s.name, "data-region": r.region, "data-pool": r.pool || "" },
                i === 0 ? el("td", { rowspan: rows.length }, el("b", {}, s.name), el("div", { class: "mute" }, s.policy + (s.held ? ", held (manual failback)" : ""))) : null,
                el("td", {}, r.region),
                el("td", { class: "answer" }, r.rcode === "NOERROR" ? r.answer.join(" ") : r.rcode + " " + r.answer.join(" ")),
                el("td", { class: "pool " + (r.degraded ? "warn" : "ok") }, r.pool || "-"),
                el("td", { class: "ttl" }, r.ttl + "s"),
                el("td", { class: "why" }, r.reason));
              body.append(tr);
            });
          }
        }

        function spark(recent) {
          const ns = "http://www.w3.org/2000/svg";
          const svg = document.createElementNS(ns, "svg");
          svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 120 24");
          if (!recent || !recent.length) return svg;
          const max = Math.max(...recent.map((p) => p.ms), 1);
          const x = (i) => recent.length === 1 ? 60 : (i * 118) / (recent.length - 1) + 1;
          const y = (p) => 22 - (p.ms / max) * 20;
          const line = document.createElementNS(ns, "polyline");
          line.setAttribute("points", recent.map((p, i) => x(i).toFixed(1) + "," + y(p).toFixed(1)).join(" "));
          svg.append(line);
          recent.forEach((p, i) => {
            if (p.ok) return;
            const c = document.createElementNS(ns, "circle");
            c.setAttribute("cx", x(i).toFixed(1)); c.setAttribute("cy", y(p).toFixed(1)); c.setAttribute("r", "2.2");
            svg.append(c);
          });
          const t = document.createElementNS(ns, "title");
          t.textContent = "last " + recent.length + " probes, max " + max.toFixed(1) + " ms (red: failed)";
          svg.append(t);
          return svg;
        }

        function renderPools() {
          const box = $("#pools");
          box.replaceChildren();
          for (const p of status.pools) {
            const card = el("div", { class: "pool", "data-pool": p.name },
              el("h3", {}, p.name, " ", el("span", { class: p.available ? "ok" : "bad" }, p.available ? "available" : "unavailable")),
              el("div", { class: "mute" }, "rule " + p.rule + ": " + p.reason));
            for (const m of p.members) {
              const mem = el("div", { class: "member", "data-member": m.id },
                el("span", { class: "mono" }, m.address), " ",
                el("span", { class: m.up ? "ok" : "bad" }, m.up ? "up" : "down"),
                el("span", { class: "mute" }, " (health " + m.health + (m.override ? ", override " + m.override.action : "") + ")"));
              for (const c of m.checks) {
                const last = c.last_reason ? c.last_reason + (c.last_latency_ms !== undefined ? " " + c.last_latency_ms.toFixed(1) + " ms" : "") : "not probed yet";
                mem.append(el("div", { class: "check" }, spark(c.recent),
                  el("span", {}, c.name + " " + c.state + ": " + last + " (" + c.consecutive_passes + "/" + c.rise + " up, " + c.consecutive_failures + "/" + c.fall + " down)")));
              }
              card.append(mem);
            }
            box.append(card);
          }
        }

        function overrideText(o) {
          return o.scope + " " + o.target + " " + o.action + (o.pool ? " " + o.pool : "") + (o.note ? " (" + o.note + ")" : "");
        }
        function renderOverrides() {
          const body = $("#overrides tbody");
          body.replaceChildren();
          if (!status.overrides.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "mute" }, "no overrides")));
          for (const o of status.overrides) {
            const clear = el("button", { type: "button", class: "clear" }, "clear");
            clear.disabled = !token;
            clear.addEventListener("click", () => clearOverride(o.scope, o.target));
            body.append(el("tr", { "data-override": o.scope + ":" + o.target },
              el("td", {}, overrideText(o)),
              el("td", { class: "countdown", "data-until": o.until || "" }, o.until ? left(o.until) : "never"),
              el("td", {}, clear)));
          }
          $("#override-form fieldset").disabled = !token;
        }
        function renderTargets() {
          const list = $("#o-targets");
          list.replaceChildren();
          const scope = $("#o-scope").value;
          const names = scope === "service" ? status.services.map((s) => s.name) :
            scope === "pool" ? status.pools.map((p) => p.name) : status.pools.flatMap((p) => p.members.map((m) => m.id));
          for (const n of names) list.append(el("option", { value: n }));
        }

        function eventText(e) {
          const who = e.service ? e.service + (e.region ? " @" + e.region : "") : (e.target || "");
          let what = (e.kind === e.action ? e.kind : e.kind + " " + e.action) + (who ? " " + who : "");
          if (e.from || e.to) what += "  " + (e.from || "-") + " \u2192 " + (e.to || "-");
          return what;
        }
        function renderTimeline() {
          const list = $("#timeline");
          list.replaceChildren();
          for (const e of events.slice().reverse()) {
            const li = el("li", { class: e.kind + " " + e.action, "data-seq": e.seq, "data-kind": e.kind },
              el("span", { class: "when" }, time(e.at)), el("span", { class: "what" }, eventText(e)),
              el("div", { class: "detail" }, e.reason));
            if (e.kind === "switch" && e.action === "switch") {
              const parts = [];
              if (e.detection_seconds !== undefined) parts.push("detected " + e.detection_seconds.toFixed(2) + " s after the first failed probe");
              if (e.ttl !== undefined) {
                const end = new Date(new Date(e.at).getTime() + e.ttl * 1000);
                const win = el("span", { class: "cache-window", "data-until": end.toISOString() },
                  "caches may hold the old answer (TTL " + e.ttl + " s) until " + time(end));
                parts.push(win);
              }
              if (e.ttl_now !== undefined) parts.push("new TTL " + e.ttl_now + " s");
              const d = el("div", { class: "detail timing" });
              parts.forEach((p, i) => { if (i) d.append("; "); d.append(p); });
              li.append(d);
            }
            list.append(li);
          }
        }

        function tick() {
          for (const c of document.querySelectorAll("#overrides .countdown[data-until]")) {
            if (c.dataset.until) c.textContent = left(c.dataset.until);
          }
          for (const w of document.querySelectorAll(".cache-window")) {
            const rest = Math.round((new Date(w.dataset.until) - Date.now()) / 1000);
            w.classList.toggle("warn", rest > 0);
            w.title = rest > 0 ? rest + " s left" : "over";
          }
        }

        function connect() {
          const src = new EventSource("/v1/events/stream?limit=200");
          src.onopen = () => { $("#live").textContent = "events: live"; $("#live").className = "badge ok"; };
          src.onerror = () => { $("#live").textContent = "events: reconnecting"; $("#live").className = "badge warn"; };
          const take = (m) => {
            const e = JSON.parse(m.data);
            if (events.length && events[events.length - 1].seq >= e.seq) return;
            events.push(e);
            if (events.length > 500) events.shift();
            renderTimeline();
            refreshAfterEvent();
          };
          for (const k of ["switch", "health", "service", "override", "reload", "server", "fleet", "keys"]) {
            src.addEventListener(k, take);
          }
        }

        async function send(method, url, body) {
          const out = $("#override-result");
          try {
            const r = await fetch(url, { method, headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
              body: body ? JSON.stringify(body) : undefined });
            const j = await r.json().catch(() => ({}));
            out.textContent = r.ok ? (method === "DELETE" ? "cleared " + j.cleared : "set: " + overrideText(j.set)) : r.status + ": " + (j.error || "failed");
            out.className = r.ok ? "ok" : "bad";
          } catch (e) { out.textContent = String(e); out.className = "bad"; }
          refresh();
        }
        function clearOverride(scope, target) {
          send("DELETE", "/v1/overrides?scope=" + encodeURIComponent(scope) + "&target=" + encodeURIComponent(target));
        }

        document.addEventListener("DOMContentLoaded", () => {
          $("#token").value = token;
          $("#token-form").addEventListener("submit", (ev) => {
            ev.preventDefault(); token = $("#token").value.trim(); sessionStorage.setItem("gtmd-token", token); render();
          });
          $("#token-forget").addEventListener("click", () => { token = ""; $("#token").value = ""; sessionStorage.removeItem("gtmd-token"); render(); });
          $("#o-scope").addEventListener("change", renderTargets);
          $("#override-form").addEventListener("submit", (ev) => {
            ev.preventDefault();
            const body = { scope: $("#o-scope").value, target: $("#o-target").value.trim(), action: $("#o-action").value };
            if ($("#o-pool").value.trim()) body.pool = $("#o-pool").value.trim();
            if ($("#o-for").value.trim()) body.for = $("#o-for").value.trim();
            if ($("#o-note").value.trim()) body.note = $("#o-note").value.trim();
            send("POST", "/v1/overrides", body);
          });
          refresh();
          connect();
          setInterval(refresh, 2000);
          setInterval(tick, 1000);
        });

        """#
}
