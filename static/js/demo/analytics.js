// Demo stand-in for an analytics tracker: it records that it ran and sets
// Matomo-style first-party cookies, which the banner deletes on withdrawal.
(() => {
  const ran = (window.ran = window.ran || []);
  // window.ran keeps ids for the tests; the page's list shows each in the page's language.
  const show = (what) => {
    ran.push(what);
    const log = document.getElementById("ran-log");
    const li = document.createElement("li");
    li.textContent = log?.dataset[what.replace(/:(\w)/, (_, c) => c.toUpperCase())] || what;
    log?.append(li);
  };
  document.cookie = "_pk_id.1.abcd=demo." + Date.now() + "; path=/; max-age=3600; SameSite=Lax";
  document.cookie = "_pk_ses.1.abcd=1; path=/; max-age=1800; SameSite=Lax";
  window.demoStats = { pageView: () => show("analytics:inline") };
  show("analytics:external");
})();
