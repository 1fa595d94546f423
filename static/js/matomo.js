// consentmgr first-party Matomo tracker: the official tracker's _paq API, sent to /matomo.php
// on this script's own origin. It does nothing (no request, no cookie) until the
// banner (window.consentmgr) reports that "analytics" is granted; the server checks
// the signed consent cookie again for every hit. /consent.js carries only a small
// loader for it (matomo-loader.js), so visitors who refuse never download it; the
// rarer parts (matomo-extra.js) come on their first call.
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
  // What matomo-extra.js adds, loaded on the first call of one of them.
  const LATER = new Set(
    `setCustomVariable deleteCustomVariable deleteCustomVariables setEcommerceView addEcommerceItem
     removeEcommerceItem clearEcommerceCart trackEcommerceOrder trackEcommerceCartUpdate
     trackContentImpression trackContentInteraction trackAllContentImpressions
     trackVisibleContentImpressions trackContentImpressionsWithinNode trackContentInteractionNode
     enableHeartBeatTimer disableHeartBeatTimer ping`.split(/\s+/),
  );
  // p: what every hit carries (uid, dimensionN, cvar, _pk* of a product page)
  const state = { ref: document.referrer, p: {}, hosts: [], cookie: "", cart: {}, cvars: {}, seen: new Set() };
  state.extensions = [...EXTENSIONS];

  const granted = () => !!window.consentmgr?.get?.()?.analytics;

  const rand = (n) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b % 16).toString(16)).join("");

  const has = (v) => v != null && `${v}` !== "";

  // Matomo's visitor cookie, set only here, after consent; the banner deletes it on withdrawal.
  const COOKIE = "_pk_id.1." + location.hostname.replace(/\W/g, "").slice(0, 4);
  const visitorId = () => {
    state.id ||= document.cookie.match(`(^|; )${COOKIE}=([0-9a-f]{16})`)?.[2] || rand(16);
    const secure = location.protocol === "https:" ? "; Secure" : "";
    if (!state.noCookies && granted())
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
  };

  // this in a pushed function, and Matomo.getAsyncTracker(): every method name works.
  const tracker = new Proxy(api, { get: (_, name) => (...args) => run([name, ...args]) });

  // extra: unset; then the calls waiting while matomo-extra.js loads; then done.
  let extra;
  const load = () => {
    extra = [];
    const tag = document.createElement("script");
    tag.src = here("/matomo-extra.js");
    // matomo-extra.js hands its methods to this; then the waiting calls run, in order.
    tag.x = (install) => {
      Object.assign(api, install({ state, send, has }));
      const waiting = extra;
      extra = true;
      waiting.forEach(run);
      state.queued?.();
    };
    tag.onerror = () => tag.x(() => ({}));
    document.head.append(tag);
  };

  // _paq.push(["name", ...args]), or a function (alone or in an array) run as the tracker.
  // While matomo-extra.js loads, calls wait for it, except the tracker's getters.
  const run = (call) => {
    const [name, ...args] = [].concat(call);
    if (extra?.push && !(api[name] && /^get/.test(name))) return void extra.push(call);
    if (typeof name === "function") return name.apply(tracker, args);
    if (api[name]) return api[name](...args);
    if (LATER.has(name) && !extra) return void (load(), extra.push(call));
    if (!NO_EFFECT.has(name)) console.warn(`consentmgr: _paq call "${name}" is not supported; nothing sent`);
  };

  let started = false;
  const start = () => {
    if (started || !granted()) return;
    started = true;
    const queued = Array.isArray(window._paq) ? window._paq : [];
    window._paq = { push: (...calls) => calls.forEach(run) };
    window.Piwik = window.Matomo ||= { getAsyncTracker: () => tracker, getTracker: () => tracker };
    queued.forEach(run);
    // The page counts as loaded for timings once the queued calls have run (the
    // official tracker runs them all at once), matomo-extra.js's included.
    const loaded = () => setTimeout(() => (state.loaded = true));
    state.queued = () => {
      state.queued = null;
      if (document.readyState === "complete") loaded();
      else addEventListener("load", loaded);
    };
    if (!extra?.push) state.queued();
  };

  start();
  document.addEventListener("consent:change", start);
})();
