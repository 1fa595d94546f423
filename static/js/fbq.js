// consentmgr fbq() shim: the Meta pixel API, sent to /fb/events on this script's origin.
// Nothing loads from Facebook. Calls wait until the banner (window.consentmgr) reports
// that "marketing" is granted, and while the site has said fbq("consent", "revoke");
// the server checks the signed consent cookie again and sends the events through the
// Conversions API. Advanced matching data goes as the site gave it: the server
// normalises and hashes it on arrival (smaller than doing it here).
(() => {
  const me = document.currentScript;
  const endpoint = new URL("/fb/events", me ? me.src : location.href).href;
  // The configured pixel id, filled in by the server when it serves this script.
  const pixel = "__PIXEL__";
  const user = {};
  const waiting = [];
  const warned = {};
  let revoked;

  // Each unsupported call or foreign pixel id is named once; true, for `||` chains.
  const warn = (what) => (warned[what] ||= console.warn("fbq: not supported: " + what) || 1);
  const granted = () => !revoked && !!window.consentmgr?.get?.()?.marketing;

  const post = (type, name, data, options) => {
    const body = JSON.stringify({
      type,
      event_name: name,
      event_id: options?.eventID, // without one, the server makes one
      page: location.href,
      referrer: document.referrer,
      custom_data: data || {},
      user_data: user,
    });
    // A string body goes as text/plain: a simple request, with no CORS preflight.
    fetch(endpoint, { method: "POST", body, keepalive: true, credentials: "include" }).catch(() => {});
  };

  // Another pixel's id: its events and data would go to the wrong place, so nothing goes.
  const other = (id) => id != pixel && warn("pixel " + id);

  const call = (command, ...args) => {
    command += "";
    // trackSingle(Custom) is track(Custom) for one pixel: ours, or none.
    if (command != (command = command.replace("Single", "")) && other(args.shift())) return;
    if (command == "track" || command == "trackCustom") {
      waiting.push([command, ...args]);
      flush();
    } else if (command == "init") {
      other(args[0]) || Object.assign(user, args[1]);
    } else if (command == "set" && args[0] == "userData") {
      Object.assign(user, args[1]);
    } else if (command == "consent") {
      revoked = args[0] != "grant";
      flush();
    } else warn(command == "set" ? "set " + args[0] : command);
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
