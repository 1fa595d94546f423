/*
 * consent.js: the consentmgr cookie banner, preferences widget and script gate.
 *
 * This is the readable source. GET /consent.js serves consent.min.js, made
 * from it by `python bench/minify.py`, with the current policy in place of
 * the placeholder P is set to:
 *   {v: policy version, n: regexp finding the consent cookie's payload,
 *    o: the consent cookie's name,
 *    g: honour Global Privacy Control, r: show the reopen button,
 *    p: privacy URL, m: my-data URL (each with "{lang}" where the language goes),
 *    k: [{id, r: required, c: regexp of its cookie names (optional ones), v: vendors}],
 *    t: {lang: {texts..., k: [[name, purpose, retention, legal basis] per category]}}}
 * Texts arrive HTML-escaped. URLs and the consent API are resolved against
 * this script's own src, so the page can be on another origin.
 */
(() => {
  "use strict";
  if (typeof window.consentmgr?.get == "function") return; // not a page element so named
  const P = __POLICY__;
  const d = document;
  const me = d.currentScript;
  const url = (u) => new URL(u, me.src).href;
  const API = url("api/consent");
  const EVENT = "consent:change";
  const optional = P.k.filter((k) => !k.r);
  const choose = (f) => Object.fromEntries(optional.map((k) => [k.id, !!f(k.id)]));
  const all = (on) => choose(() => on);
  const any = (c) => optional.some((k) => c?.[k.id]);
  let choices = null; // {category: granted} once decided, null while undecided
  let banner = null; // {host, back: element to refocus, layer} while open
  let tab = null; // the optional persistent reopen button
  let queue = Promise.resolve(); // script activations, one at a time
  let decisions = Promise.resolve(); // decisions, each sent once the one before is answered

  // <html lang> first, then the browser's languages, then bokmål.
  const pick = (tag) => {
    const l = (tag || "").toLowerCase().split("-")[0];
    return l == "no" ? "nb" : Object.hasOwn(P.t, l) && l;
  };
  const language = () => [d.documentElement.lang, ...navigator.languages].map(pick).find(Boolean) || "nb";

  // A constructed stylesheet is not subject to the page's style-src CSP, and
  // inside a shadow root neither the page nor the banner can restyle the other.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(
    ":host{all:initial!important}" +
    "*{--f:#1b1b1b;--b:#fff;--a:#0b3d91}" +
    "@media(prefers-color-scheme:dark){*{--f:#f2f2f2;--b:#1b1b1b;--a:#9cc3ff}}" +
    ".box{font:medium/1.5 system-ui,sans-serif;color:var(--f);background:var(--b);border:2px solid}" +
    // The dialog: its text scrolls, its buttons stay in view below it.
    ".fix{box-sizing:border-box;position:fixed;z-index:2147483647;inset:auto 0 0;margin:0 auto;max-width:46em;max-height:100dvh;display:flex;flex-direction:column;border-radius:.75em .75em 0 0}" +
    ".s{overflow:auto;padding:.75em 1em}" +
    "h2{font-size:1.2em;margin:0 0 .25em}" +
    "p{margin:0 0 .5em}" +
    "a{color:var(--a);display:inline-block;min-height:24px;margin-right:1em}" +
    ".b{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(9em,30%),1fr));gap:.5em;padding:.5em 1em .75em;border-top:1px solid}" +
    "button{font:inherit;font-weight:600;min-height:44px;padding:0 .5em;border:2px solid var(--a);border-radius:.4em;background:var(--a);color:var(--b);cursor:pointer}" +
    ".x{float:right;margin-left:1em;background:0 0;color:inherit}" +
    ".re{position:fixed;left:.5em;bottom:.5em}" +
    ".pad{display:block}" +
    ":focus-visible{outline:3px solid var(--f);outline-offset:2px}" +
    "label{display:block;font-weight:600;border-top:1px solid;padding-top:.5em}" +
    "input{width:24px;height:24px;vertical-align:-6px;accent-color:var(--a)}" +
    "@media(prefers-reduced-motion:no-preference){.in{animation:u .3s}}" +
    "@keyframes u{from{transform:translateY(100%)}}",
  );

  const mount = (host, html, delegatesFocus) => {
    const root = host.shadowRoot || host.attachShadow({ mode: "open", delegatesFocus });
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = html;
    return root;
  };

  // One real checkbox per category, role=switch, labelled by the category's name.
  const switches = (t) =>
    P.k
      .map(
        (k, i) =>
          `<label><input type="checkbox" role="switch" name="${k.id}"` +
          (k.r ? " checked disabled" : choices?.[k.id] ? " checked" : "") +
          `> ${t.k[i][0]}${k.r ? ` (${t.always_on})` : ""}</label>` +
          `<p>${t.k[i][1]}<br>${t.vendors}: ${k.v}<br>${t.retention}: ${t.k[i][2]}<br>${t.legal_basis}: ${t.k[i][3]}</p>`,
      )
      .join("");
  const read = (root) => choose((id) => root.querySelector(`[name=${id}]`).checked);
  // Links to the service's pages carry the banner's language, so they open in it:
  // the server gives their URLs with "{lang}" where it goes.
  const link = (href, text, lang) => `<a href="${url(href.replace("{lang}", lang))}">${text}</a>`;

  // Layer 1 asks; layer 2 (Tilpass, or any [data-consent-open]) shows the
  // switches. The three choices have the same size, colour and weight.
  const show = (layer) => {
    const active = d.activeElement;
    // It slides in when it appears; moving between layers replaces it in place.
    const slide = banner ? "" : " in";
    if (!banner) d.body.append((banner = { host: d.createElement("div") }).host);
    if (active != banner.host) banner.back = active;
    banner.layer = layer;
    const lang = language();
    const t = P.t[lang];
    const buttons = (a, text) =>
      `<div class="b"><button data-a="accept_all">${t.accept_all}</button>` +
      `<button data-a="reject_all">${t.reject_all}</button><button data-a="${a}">${text}</button></div>`;
    const box = mount(
      banner.host,
      `<div class="box fix${slide}" role="dialog" aria-labelledby="t" lang="${lang}" tabindex="-1"><div class="s">` +
        (layer > 1
          ? `<button class="x" data-a="close">${t.close}</button><h2 id="t">${t.settings_title}</h2>` +
            `${switches(t)}<p>${link(P.p, t.privacy_link, lang)}${link(P.m, t.my_data, lang)}</p></div>${buttons("custom", t.save)}`
          : `<h2 id="t">${t.title}</h2><p>${t.intro} ${link(P.p, t.privacy_link, lang)}</p></div>${buttons("more", t.customise)}`) +
        '</div><div class="pad"></div>',
    ).firstChild;
    keepClear(box);
    box.onclick = (e) => {
      const a = e.target.dataset.a;
      if (a == "close") dismiss();
      else if (a == "more") show(2);
      else if (a) decide(a == "custom" ? read(box) : all(a == "accept_all"), a);
    };
    box.onkeydown = (e) => {
      if (e.key == "Escape" && (layer > 1 || choices)) dismiss();
    };
    // Focus moves in, unless the visitor was busy elsewhere on the page when it appeared.
    if (layer > 1 || !active || active == d.body || active == banner.host) box.focus();
  };

  // While the banner is open, nothing the visitor focuses on the page may hide
  // behind it (WCAG 2.4.11): the page scrolls focused elements clear of it
  // (scroll-padding), and an empty block of its height after the page's
  // content lets the last of them scroll that far.
  const root = d.documentElement;
  const keepClear = (box) => {
    banner.padding ??= root.style.scrollPaddingBottom;
    const pad = box.nextSibling;
    banner.watch?.disconnect();
    banner.watch = new ResizeObserver(() => {
      pad.style.height = root.style.scrollPaddingBottom = box.offsetHeight + "px";
    });
    banner.watch.observe(box);
  };
  // What the browser does not scroll (a frame taking focus) comes clear here; only
  // what is wholly hidden, so a click on what can be seen never moves the page.
  const uncover = () => {
    const box = banner?.host.shadowRoot.firstChild;
    const el = d.activeElement;
    if (!box || !el || el == banner.host || el == d.body) return;
    const top = box.getBoundingClientRect().top;
    const r = el.getBoundingClientRect();
    if (r.top >= top) scrollBy(0, r.bottom - top);
  };
  d.addEventListener("focusin", uncover);
  addEventListener("blur", () => setTimeout(() => d.activeElement?.tagName == "IFRAME" && uncover()));

  // Closing without a decision goes back to the question; it is never forced.
  const dismiss = () => (choices ? close() : show(1));

  const close = () => {
    if (!banner) return;
    const { host, back, watch, padding } = banner;
    const focused = d.activeElement == host;
    banner = null;
    watch?.disconnect();
    root.style.scrollPaddingBottom = padding;
    host.remove();
    if (focused) back?.focus();
  };

  const granted = (category) => P.k.find((k) => k.id == category)?.r || choices?.[category];

  // Blocked scripts run in document order; an external one is waited for
  // before the next starts, so inline code can use what it defined.
  const activate = () =>
    (queue = queue.then(async () => {
      for (const el of d.querySelectorAll("script[type='text/plain'][data-category],iframe[data-src][data-category]")) {
        if (!el.isConnected || !granted(el.dataset.category)) continue;
        if (el.tagName == "IFRAME") {
          el.src = el.dataset.src;
          el.removeAttribute("data-src");
          continue;
        }
        const s = d.createElement("script");
        for (const a of el.attributes) s.setAttribute(a.name, a.value);
        s.type = el.dataset.type || "text/javascript";
        s.nonce = el.nonce; // the page's own: lending ours would let injected ones run
        s.text = el.text;
        el.replaceWith(s);
        if (s.src) await new Promise((done) => (s.onload = s.onerror = done));
      }
    }));

  // Delete a cookie on every path from / to this page and for this host and
  // every domain above it.
  const forget = (name) => {
    const host = location.hostname.split(".");
    const domains = ["", ...host.map((_, i) => ";domain=" + host.slice(i).join("."))];
    const paths = ["/"];
    let path = "";
    for (const s of location.pathname.split("/").filter(Boolean)) paths.push((path += "/" + s), path + "/");
    const secure = location.protocol == "https:" ? ";secure" : ""; // __Secure- and __Host- names
    for (const domain of domains) for (const p of paths) d.cookie = `${name}=;max-age=0;path=${p}${domain}${secure}`;
  };

  // Delete the cookies of every category not granted.
  const clean = () => {
    for (const c of d.cookie.split(/; */)) {
      const name = c.split("=")[0];
      if (optional.some((k) => !choices?.[k.id] && RegExp(k.c).test(name))) forget(name);
    }
  };

  // The preferences widget: the same switches inline, saved with one button.
  const widgets = () => {
    for (const el of d.querySelectorAll("[data-consent-preferences]")) {
      let root = el.shadowRoot;
      if (!root) {
        const lang = language();
        const t = P.t[lang];
        root = mount(el, `<div class="box s" lang="${lang}">${switches(t)}<button>${t.save}</button> <span role="status"></span></div>`);
        const status = root.querySelector("span");
        root.querySelector("button").onclick = () => {
          status.innerHTML = "";
          decide(read(root), "custom").then(() => (status.innerHTML = t.saved));
        };
      }
      for (const box of root.querySelectorAll("input:enabled")) box.checked = !!choices?.[box.name];
    }
  };

  const apply = (next) => {
    choices = next;
    clean();
    activate();
    widgets();
    if (P.r && next && !tab) {
      tab = d.createElement("div");
      tab.setAttribute("data-consent-open", "");
      const lang = language(); // the page's may be one the banner does not speak
      mount(tab, `<button class="re" lang="${lang}">${P.t[lang].reopen}</button>`, true);
      d.body.append(tab);
    }
  };

  // Record a decision, then use the state the server answers with. Turning
  // everything off after granting something is a withdrawal. If it cannot be
  // recorded, only the refusals in it take effect; and since the consent
  // cookie would grant them again on the next page, it goes: the visitor is
  // asked again there instead of being tracked.
  // One at a time: a second click sends the cookie the first one's answer set,
  // so the server sees the same visitor deciding again, not an old copy.
  const decide = (next, method) => (decisions = decisions.then(() => record(next, method)));
  const record = (next, method) => {
    const withdraw = any(choices) && !any(next);
    const body = { lang: language(), page: location.origin + location.pathname };
    return fetch(API, {
      method: withdraw ? "DELETE" : "POST",
      credentials: "include",
      keepalive: true,
      body: JSON.stringify(withdraw ? body : { ...body, choices: next, method }),
    })
      .then((r) => (r.ok ? r.json() : Promise.reject()))
      .then(
        (state) => state.choices,
        () => {
          const kept = choose((id) => next[id] && choices?.[id]);
          if (optional.some((k) => choices?.[k.id] && !kept[k.id])) forget(P.o);
          return kept;
        },
      )
      .then((c) => {
        apply(c);
        close();
        d.dispatchEvent(new CustomEvent(EVENT, { detail: { ...c } }));
      });
  };

  // The signed cookie's payload is base64url JSON {g: granted, i, v}: only the
  // server trusts it, but it gives a returning visitor's choice without a request.
  const fromCookie = () => {
    try {
      const o = JSON.parse(atob(d.cookie.match(P.n)[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (o.v == P.v) return choose((id) => o.g.includes(id));
    } catch {
      // no cookie, or not one of ours: undecided
    }
  };

  const init = () => {
    const known = fromCookie();
    apply(known || null);
    if (known) return;
    if (P.g && navigator.globalPrivacyControl) return decide(all(false), "gpc");
    // The server also sees Sec-GPC and a cookie set for another domain.
    fetch(API, { credentials: "include" })
      .then((r) => r.json())
      .then(
        (s) => (s.decided && !s.stale ? apply(s.choices) : s.gpc ? decide(all(false), "gpc") : show(1)),
        () => show(1),
      );
  };

  d.addEventListener("click", (e) => {
    if (e.target.closest?.("[data-consent-open]")) {
      e.preventDefault();
      show(2);
    }
  });

  window.consentmgr = {
    version: P.v,
    get: () => choices && { ...choices },
    open: () => show(2),
    onChange(fn) {
      const h = (e) => fn(e.detail);
      d.addEventListener(EVENT, h);
      return () => d.removeEventListener(EVENT, h);
    },
  };

  if (d.readyState == "loading") d.addEventListener("DOMContentLoaded", init);
  else init();
})();
