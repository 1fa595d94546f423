// consentmgr fbq() shim: the Meta pixel API, sent to /fb/events on this script's origin.
// Nothing loads from Facebook. Calls wait until the banner (window.consentmgr) reports
// that "marketing" is granted; the server checks the signed consent cookie again and
// sends the events through the Conversions API.
(() => {
  const me = document.currentScript;
  const endpoint = new URL("/fb/events", me ? me.src : location.href).href;
  const user = {};
  const waiting = [];

  const granted = () => !!window.consentmgr?.get()?.marketing;

  const post = (type, name, data, options) => {
    const body = JSON.stringify({
      type,
      event_name: name,
      event_id: options?.eventID || crypto.randomUUID?.() || String(Math.random()).slice(2),
      page: location.href,
      custom_data: data || {},
      user_data: user,
    });
    fetch(endpoint, { method: "POST", body, keepalive: true, credentials: "include", headers: { "Content-Type": "text/plain" } }).catch(() => {});
  };

  const call = (command, ...args) => {
    if (command === "init") {
      for (const key of ["em", "ph"]) if (args[1]?.[key]) user[key] = String(args[1][key]);
    } else if (command === "track" || command === "trackCustom") {
      if (granted()) post(command, ...args);
      else waiting.push([command, ...args]);
    }
  };

  const flush = () => {
    if (granted()) waiting.splice(0).forEach((args) => post(...args));
  };

  // The standard pixel snippet defines a stub that queues calls in fbq.queue.
  const stub = window.fbq;
  const fbq = (...args) => call(...args);
  Object.assign(fbq, { push: fbq, loaded: true, version: "2.0", queue: [], callMethod: fbq });
  window.fbq = window._fbq = fbq;
  if (stub) {
    stub.callMethod = fbq;
    for (const args of stub.queue || []) call(...args);
  }
  document.addEventListener("consent:change", flush);
})();
