// consentmgr first-party Matomo tracker: the _paq API Ansettr uses, sent to /matomo.php
// on this script's own origin. It does nothing (no request, no cookie) until the
// banner (window.consentmgr) reports that "analytics" is granted; the server checks
// the signed consent cookie again for every hit.
(() => {
  const me = document.currentScript;
  const endpoint = new URL("/matomo.php", me ? me.src : location.href).href;
  const DOWNLOAD = /\.(pdf|docx?|xlsx?|pptx?|zip|csv|txt|odt|ods|rtf)$/i;
  const state = { url: null, title: null, ref: document.referrer, pv: "", links: false };

  const cookie = (name) =>
    document.cookie
      .split("; ")
      .find((c) => c.startsWith(name + "="))
      ?.slice(name.length + 1);

  const granted = () => !!window.consentmgr?.get()?.analytics;

  const rand = (n) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b % 16).toString(16)).join("");

  // Matomo's visitor cookie, set only here, after consent; the banner deletes it on withdrawal.
  const visitorId = () => {
    const name = "_pk_id.1." + location.hostname.replace(/\W/g, "").slice(0, 4);
    let id = cookie(name)?.split(".")[0];
    if (!/^[0-9a-f]{16}$/.test(id || "")) id = rand(16);
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${name}=${id}.${Math.floor(Date.now() / 1000)}; Path=/; Max-Age=33955200; SameSite=Lax${secure}`;
    return id;
  };

  const send = (params) => {
    if (!granted()) return; // consent withdrawn since the page loaded
    const now = new Date();
    const body = new URLSearchParams({
      idsite: "1",
      rec: "1",
      apiv: "1",
      r: rand(6),
      h: now.getHours(),
      m: now.getMinutes(),
      s: now.getSeconds(),
      _id: visitorId(),
      url: state.url || location.href,
      urlref: state.ref || "",
      res: `${screen.width}x${screen.height}`,
      send_image: "0",
      pv_id: state.pv,
      ...params,
    });
    // keepalive lets the hit outlive the page, as sendBeacon would; the body is form-encoded
    fetch(endpoint, { method: "POST", body, keepalive: true, credentials: "include" }).catch(() => {});
  };

  const onClick = (event) => {
    const a = event.target.closest?.("a[href]");
    if (!a || !/^https?:$/.test(a.protocol)) return;
    if (DOWNLOAD.test(a.pathname)) send({ download: a.href });
    else if (a.hostname !== location.hostname) send({ link: a.href });
  };

  const api = {
    setCustomUrl: (url) => (state.url = new URL(url, location.href).href),
    setDocumentTitle: (title) => (state.title = String(title)),
    setReferrerUrl: (url) => (state.ref = String(url)),
    trackPageView: (title) => {
      state.pv = rand(6);
      send({ action_name: title || state.title || document.title });
    },
    trackEvent: (c, a, n, v) => send({ e_c: c, e_a: a, ...(n != null && { e_n: n }), ...(v != null && { e_v: v }) }),
    trackGoal: (id, revenue) => send({ idgoal: id, ...(revenue != null && { revenue }) }),
    trackSiteSearch: (search, cat, count) =>
      send({ search, ...(cat && { search_cat: cat }), ...(count != null && { search_count: count }) }),
    enableLinkTracking: () => {
      if (!state.links) document.addEventListener("click", onClick, true);
      state.links = true;
    },
  };

  const run = (call) => {
    if (typeof call === "function") return call();
    const [name, ...args] = call;
    api[name]?.(...args);
  };

  let started = false;
  const start = () => {
    if (started || !granted()) return;
    started = true;
    const queued = Array.isArray(window._paq) ? window._paq : [];
    window._paq = { push: (...calls) => calls.forEach(run) };
    queued.forEach(run);
  };

  start();
  document.addEventListener("consent:change", start);
})();
