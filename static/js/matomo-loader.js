// What /consent.js carries for Matomo: once analytics is granted and the page uses
// _paq, it loads the tracker (/matomo.js) from this script's own origin. Visitors
// who refuse, and pages without _paq, never download it.
(() => {
  const me = document.currentScript;
  const load = () => {
    if (!window._paq || load.done || !window.consentmgr?.get?.()?.analytics) return;
    load.done = document.head.appendChild(document.createElement("script"));
    load.done.src = new URL("/matomo.js", me.src).href;
  };
  load();
  document.addEventListener("consent:change", load);
})();
