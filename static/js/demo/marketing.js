// Demo stand-in for a marketing pixel: it records that it ran and sets a
// first-party _fbp cookie in Meta's format, which the banner deletes on withdrawal.
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
  const random = Math.floor(Math.random() * 1e10);
  document.cookie = `_fbp=fb.1.${Date.now()}.${random}; path=/; max-age=7776000; SameSite=Lax`;
  window.demoPixel = { track: () => show("marketing:inline") };
  show("marketing:external");
})();
