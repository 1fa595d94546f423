// consentmgr first-party Matomo tracker: the official tracker's _paq API, sent to /matomo.php
// on this script's own origin. It does nothing (no request, no cookie) until the
// banner (window.consentmgr) reports that "analytics" is granted; the server checks
// the signed consent cookie again for every hit. /consent.js carries only a small
// loader for it (matomo-loader.js), so visitors who refuse never download it.
//
// Which official calls work, which are accepted with no effect and which are not
// supported (they log a warning) is in README.md, "The _paq API: what works".
(() => {
  const me = document.currentScript;
  const here = (path) => new URL(path, me ? me.src : location.href).href;
  // The official tracker's download extensions (setDownloadExtensions changes them).
  const EXTENSIONS = `7z aac apk arc arj asc asf asx avi azw3 bin csv deb dmg doc docx epub exe flv gif gz
    gzip hqx ibooks jar jpg jpeg js md5 mobi mp2 mp3 mp4 mpg mpeg mov movie msi msp odb odf odg ods odt
    ogg ogv pdf phps png ppt pptx qt qtm ra ram rar rpm rtf sea sha sha256 sha512 sig sit tar tbz tbz2
    bz bz2 tgz torrent txt wav wma wmv wpd xls xlsx xml xz z zip`.split(/\s+/);
  // Calls that change nothing here: consent is the banner's job, the gateway decides
  // where hits go and for which site, the one visitor cookie has fixed attributes,
  // and hits carry no browser feature flags.
  const NO_EFFECT = new Set(
    `setTrackerUrl setSiteId addTracker setAPIUrl setRequestMethod setRequestContentType
     alwaysUseSendBeacon disableAlwaysUseSendBeacon disableQueueRequest setRequestQueueInterval
     requireConsent setConsentGiven rememberConsentGiven forgetConsentGiven
     requireCookieConsent setCookieConsentGiven rememberCookieConsentGiven forgetCookieConsentGiven
     optUserOut forgetUserOptOut setDoNotTrack setCookieNamePrefix setCookiePath setSecureCookie
     setCookieSameSite setVisitorCookieTimeout setSessionCookieTimeout setReferralCookieTimeout
     storeCustomVariablesInCookie setGenerationTimeMs disableBrowserFeatureDetection
     enableBrowserFeatureDetection setCountPreRendered`.split(/\s+/),
  );
  // p: what every hit carries (uid, dimensionN, cvar, _pk* of a product page)
  const state = { ref: document.referrer, p: {}, hosts: [], cookie: "", cart: {}, cvars: {}, seen: new Set() };
  state.extensions = EXTENSIONS;

  const granted = () => !!window.consentmgr?.get()?.analytics;

  const rand = (n) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b % 16).toString(16)).join("");

  const has = (v) => v != null && `${v}` !== "";

  // Matomo's visitor cookie, set only here, after consent; the banner deletes it on withdrawal.
  const COOKIE = "_pk_id.1." + location.hostname.replace(/\W/g, "").slice(0, 4);
  const visitorId = () => {
    state.id ||= document.cookie.match(`(^|; )${COOKIE}=([0-9a-f]{16})`)?.[2] || rand(16);
    const secure = location.protocol === "https:" ? "; Secure" : "";
    if (!state.noCookies)
      document.cookie = `${COOKIE}=${state.id}.${Math.floor(Date.now() / 1000)}; Path=/; Max-Age=33955200; SameSite=Lax${secure}${state.cookie}`;
    return state.id;
  };

  // Navigation Timing, as the official tracker sends it: with a page view while none
  // has been sent after the load, and with the first hit once the page has loaded
  // (so a page view sent early is completed); none when a span is negative (a browser bug).
  const SPANS = {
    pf_net: ["fetchStart", "connectEnd"],
    pf_srv: ["requestStart", "responseStart"],
    pf_tfr: ["responseStart", "responseEnd"],
    pf_dm1: ["responseEnd", "domInteractive"],
    pf_dm2: ["domInteractive", "domComplete"],
    pf_onl: ["loadEventStart", "loadEventEnd"],
  };
  const timings = () => {
    const t = performance.getEntriesByType("navigation")[0] || {};
    const pf = {};
    for (const [key, [from, to]] of Object.entries(SPANS))
      if (t[from] && t[to]) {
        if (t[to] < t[from]) return {};
        pf[key] = Math.round(t[to] - t[from]);
      }
    return pf;
  };

  const send = (params) => {
    if (!granted()) return; // consent withdrawn since the page loaded
    const now = new Date();
    state.last = +now;
    if (state.loaded && !state.timed) params = { ...timings(), ...params };
    state.timed ||= state.loaded;
    const body = new URLSearchParams({
      idsite: 1,
      rec: 1,
      apiv: 1,
      r: rand(6),
      h: now.getHours(),
      m: now.getMinutes(),
      s: now.getSeconds(),
      _id: visitorId(),
      url: state.url || location.href,
      ...(state.ref && { urlref: state.ref }),
      res: `${screen.width}x${screen.height}`,
      send_image: 0,
      ...(state.pv && { pv_id: state.pv }),
      ...state.p,
      ...params,
    });
    // sendBeacon outlives the page and sends the consent cookie; the body is form-encoded
    navigator.sendBeacon(here("/matomo.php"), body);
  };

  // setDomains: "example.com", "*.example.com" (it and its subdomains), "www." aside;
  // the page's own host always counts.
  const bare = (host) => `${host}`.toLowerCase().replace(/^www\./, "");
  const own = (host) =>
    [location.hostname, ...state.hosts].map(bare).some(
      (d) => d === bare(host) || (/^\*?\./.test(d) && `.${bare(host)}`.endsWith(d.replace(/^\*/, ""))),
    );
  const list = (names) => (typeof names === "string" ? names.split("|") : [...names]);

  // A click on a link: matomo_ignore, matomo_link and matomo_download classes (or piwik_)
  // first, then the download attribute and extensions, then whether it leaves the site.
  const onClick = (event) => {
    const a = event.target.closest?.("a[href]");
    if (!a || !/^https?:$/.test(a.protocol)) return;
    const marked = (kind) => RegExp(`(^| )(piwik|matomo)[_-]${kind}( |$)`).test(a.className);
    const files = RegExp(`\\.(${state.extensions.join("|")})([?&#]|$)`, "i");
    if (marked("ignore")) return;
    if (marked("link")) send({ link: a.href });
    else if (a.hasAttribute("download") || marked("download") || files.test(a.href)) send({ download: a.href });
    else if (!own(a.hostname)) send({ link: a.href });
  };

  // Custom variables (legacy): visit scope as _cvar, page scope as cvar, event scope as e_cvar.
  const SCOPES = { visit: "_cvar", 2: "_cvar", page: "cvar", 3: "cvar", event: "e_cvar" };
  const cvars = (scope = "visit", change) => {
    const key = SCOPES[scope];
    if (!key) return;
    const vars = (state.cvars[key] ||= {});
    change(vars);
    if (Object.keys(vars).length) state.p[key] = JSON.stringify(vars);
    else delete state.p[key];
  };

  // E-commerce: an order or a cart update carries the cart as ec_items.
  const ecommerce = (id, revenue, subtotal, tax, shipping, discount) => {
    const items = Object.values(state.cart).map(([sku, name = "", category = "", price, quantity]) => [
      sku,
      name,
      category,
      has(price) ? price : 0,
      has(quantity) ? quantity : 1,
    ]);
    const optional = { ec_id: id, ec_st: subtotal, ec_tx: tax, ec_sh: shipping, ec_dt: discount };
    send({
      idgoal: 0,
      revenue,
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => `${v}` !== "")),
      ec_items: JSON.stringify(items),
    });
    if (`${id}` !== "") state.cart = {};
  };

  // Content tracking: blocks marked data-track-content (or class matomoTrackContent);
  // name, piece and target from data-content-* or else the media and link in them.
  const BLOCKS = "[data-track-content],.matomoTrackContent,.piwikTrackContent";
  // The block or the first element in it with the attribute (with a value, if asked).
  const first = (block, attr, valued) =>
    [block, ...block.querySelectorAll(`[${attr}]`)].find(
      (n) => n.hasAttribute(attr) && (!valued || n.getAttribute(attr)),
    );
  const absolute = (url) => url && new URL(url, location.href).href;
  const describe = (block) => {
    const pieceNode = first(block, "data-content-piece") || block;
    const targetNode = first(block, "data-content-target") || block;
    // A media piece: the element itself (an <img>, or a <video> with a <source>).
    const media = pieceNode.matches("img,embed,video,audio")
      ? first(pieceNode, "src", true)?.getAttribute("src")
      : pieceNode.matches("object") && pieceNode.getAttribute("data");
    const piece = first(block, "data-content-piece", true)?.getAttribute("data-content-piece") || absolute(media);
    const name =
      first(block, "data-content-name", true)?.getAttribute("data-content-name") ||
      (piece?.startsWith(location.origin + "/") ? piece.slice(location.origin.length) : piece) ||
      block.title ||
      pieceNode.title ||
      targetNode.title;
    const target =
      targetNode.getAttribute("data-content-target") ||
      absolute(targetNode.getAttribute("href") || pieceNode.getAttribute("href"));
    return [name?.trim() || "Unknown", piece?.trim() || "Unknown", target?.trim() || ""];
  };
  const content = (interaction, name, piece, target) =>
    send({
      ...(interaction && { c_i: interaction }),
      c_n: name,
      c_p: piece || "Unknown",
      ...(target && { c_t: target }),
      ca: 1,
    });
  const impression = (block) => {
    const [name, piece, target] = describe(block);
    const key = [name, piece, target].join("\n");
    if (state.seen.has(key)) return;
    state.seen.add(key);
    content("", name, piece, target);
  };
  const blocks = (root = document) => [...(root.matches?.(BLOCKS) ? [root] : []), ...root.querySelectorAll(BLOCKS)];
  const onScreen = (node) => {
    const box = node.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0 &&
      box.top < innerHeight && box.left < innerWidth && node.checkVisibility?.() !== false;
  };
  const ready = (fn) =>
    document.readyState === "loading" ? document.addEventListener("DOMContentLoaded", fn) : fn();

  // Heartbeat: as the official tracker, a ping when the visitor leaves the window,
  // the tab or the page, if the last hit is at least the delay old and the window
  // was not focused just now (a quick pass through tabs).
  const heartbeat = () => {
    const now = Date.now();
    if (state.beat && state.last && now - state.last >= state.beat && now - state.focused > state.beat)
      send({ ping: 1 });
  };

  const api = {
    setCustomUrl: (url) => (state.url = new URL(url, location.href).href),
    setDocumentTitle: (title) => (state.title = title),
    setReferrerUrl: (url) => (state.ref = url),
    setUserId: (id) => has(id) && (state.p.uid = id),
    resetUserId: () => delete state.p.uid,
    getUserId: () => state.p.uid,
    getVisitorId: visitorId,
    getPageViewId: () => state.pv,
    getCurrentUrl: () => state.url || location.href,
    setCustomDimension: (id, value) => id > 0 && (state.p["dimension" + +id] = value ?? ""),
    deleteCustomDimension: (id) => delete state.p["dimension" + +id],
    getCustomDimension: (id) => state.p["dimension" + +id],
    setCustomVariable: (index, name, value = "", scope) =>
      index > 0 && name != null && cvars(scope, (v) => (v[index] = [`${name}`.slice(0, 200), `${value}`.slice(0, 200)])),
    deleteCustomVariable: (index, scope) => cvars(scope, (v) => delete v[index]),
    deleteCustomVariables: (scope) => cvars(scope, (v) => Object.keys(v).forEach((i) => delete v[i])),
    setDomains: (domains) => (state.hosts = [].concat(domains).map((d) => `${d}`.split("/")[0])),
    setCookieDomain: (domain) => (state.cookie = `; Domain=${`${domain}`.replace(/^\*?\./, "")}`),
    disableCookies: () => {
      state.noCookies = true;
      document.cookie = `${COOKIE}=; Path=/; Max-Age=0${state.cookie}`;
    },
    disablePerformanceTracking: () => (state.timed = true),
    trackPageView: (title) => {
      state.pv = rand(6);
      state.seen.clear();
      send({ action_name: title || state.title || document.title, ...(!state.timed && timings()) });
    },
    trackEvent: (c, a, n, v) =>
      has(c) && has(a)
        ? send({ e_c: c, e_a: a, ...(n !== undefined && { e_n: n }), ...(v !== undefined && { e_v: v }), ca: 1 })
        : console.warn("consentmgr: trackEvent needs a category and an action; nothing sent"),
    trackGoal: (id, revenue) => send({ idgoal: id, ...(revenue && { revenue }) }),
    trackSiteSearch: (search, cat, count) =>
      send({ search, ...(cat && { search_cat: cat }), ...(count !== undefined && { search_count: count }) }),
    trackLink: (url, type) => send({ [type === "download" ? type : "link"]: url }),
    enableLinkTracking: () => document.addEventListener("click", onClick, true),
    disableLinkTracking: () => document.removeEventListener("click", onClick, true),
    setDownloadExtensions: (names) => (state.extensions = list(names)),
    addDownloadExtensions: (names) => state.extensions.push(...list(names)),
    removeDownloadExtensions: (names) => (state.extensions = state.extensions.filter((e) => !list(names).includes(e))),
    enableHeartBeatTimer: (seconds) => {
      state.beat = Math.max(seconds || 15, 5) * 1000;
      if (state.beating) return;
      state.beating = true;
      state.focused = 0;
      addEventListener("focus", () => (state.focused = Date.now()));
      addEventListener("blur", heartbeat);
      addEventListener("pagehide", heartbeat);
      document.addEventListener("visibilitychange", () =>
        document.hidden ? heartbeat() : (state.focused = Date.now()),
      );
    },
    disableHeartBeatTimer: () => (state.beat = 0),
    ping: () => send({ ping: 1 }),
    trackContentImpression: (name, piece, target) => name && content("", name, piece, target),
    trackContentInteraction: (interaction, name, piece, target) =>
      interaction && name && content(interaction, name, piece, target),
    trackAllContentImpressions: () => ready(() => blocks().forEach(impression)),
    trackContentImpressionsWithinNode: (node) => node && ready(() => blocks(node).forEach(impression)),
    trackContentInteractionNode: (node, interaction = "Unknown") => {
      const block = node?.closest(BLOCKS);
      if (block) content(interaction, ...describe(block));
    },
    // Only blocks on screen now, then those that come into view (on scroll and every
    // interval), each once a page view, as the official tracker does.
    trackVisibleContentImpressions: (onScroll = true, interval = 750) =>
      ready(() => {
        const check = () => blocks().forEach((block) => onScreen(block) && impression(block));
        check();
        if (onScroll) addEventListener("scroll", check, { passive: true });
        if (interval > 0) setInterval(check, interval);
      }),
    setEcommerceView: (sku, name, category, price) => {
      for (const key of ["_pkc", "_pkp", "_pks", "_pkn"]) delete state.p[key];
      state.p._pkc = Array.isArray(category) ? JSON.stringify(category) : has(category) && category !== false ? category : "";
      if (has(price) && price !== false) state.p._pkp = price;
      if (!has(sku) && !has(name)) return;
      if (has(sku)) state.p._pks = sku;
      state.p._pkn = has(name) ? name : "";
    },
    addEcommerceItem: (sku, name, category, price, quantity) =>
      has(sku) && (state.cart[sku] = [`${sku}`, name, category, price, quantity]),
    removeEcommerceItem: (sku) => delete state.cart[sku],
    clearEcommerceCart: () => (state.cart = {}),
    trackEcommerceOrder: (id, ...totals) => has(id) && totals[0] !== undefined && ecommerce(id, ...totals),
    trackEcommerceCartUpdate: (total) => total !== undefined && ecommerce("", total, "", "", "", ""),
  };

  // this in a pushed function, and Matomo.getAsyncTracker(): every method name works.
  const tracker = new Proxy(api, { get: (_, name) => (...args) => run([name, ...args]) });

  // _paq.push(["name", ...args]), or a function (alone or in an array) run as the tracker.
  const run = (call) => {
    const [name, ...args] = [].concat(call);
    if (typeof name === "function") return name.apply(tracker, args);
    if (api[name]) return api[name](...args);
    if (!NO_EFFECT.has(name)) console.warn(`consentmgr: _paq call "${name}" is not supported; nothing sent`);
  };

  let started = false;
  const start = () => {
    if (started || !granted()) return;
    started = true;
    const queued = Array.isArray(window._paq) ? window._paq : [];
    window._paq = { push: (...calls) => calls.forEach(run) };
    window.Piwik = window.Matomo ||= { getAsyncTracker: () => tracker, getTracker: () => tracker };
    const loaded = () => setTimeout(() => (state.loaded = true));
    if (document.readyState === "complete") loaded();
    else addEventListener("load", loaded);
    queued.forEach(run);
  };

  start();
  document.addEventListener("consent:change", start);
})();
