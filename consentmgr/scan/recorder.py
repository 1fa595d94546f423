"""The script ``consentmgr scan`` adds to every frame before the frame's own scripts.

It reports each cookie write (``document.cookie``, ``cookieStore.set``), each
``localStorage``/``sessionStorage`` ``setItem`` and each IndexedDB ``open``,
with the script that made it (the first script URL on the call stack),
through the binding the scanner exposes as ``window.__consentmgrScan``. A
cookie write also says whether the name is readable afterwards (``kept``), so
a refused or deleting write is told apart. The page sees no difference.

Kept as a string, not a ``.js`` file, so it is installed with the package.
"""

BINDING = "__consentmgrScan"

SCRIPT = r"""
(() => {
  const send = (data) => {
    try {
      window.__consentmgrScan?.({ ...data, frame: location.href });
    } catch {
      // the binding is gone while the frame unloads
    }
  };
  // The first script URL on the stack below this file's own frames.
  const caller = () => {
    for (const line of (new Error().stack || "").split("\n").slice(3)) {
      const m = line.match(/((?:https?|file):\/\/[^\s()]+?):\d+:\d+\)?\s*$/);
      if (m) return m[1];
    }
    return null;
  };
  const names = (text) => text.split(/; */).map((c) => c.split("=")[0]);

  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  if (cookie?.set) {
    Object.defineProperty(Document.prototype, "cookie", {
      configurable: true,
      enumerable: cookie.enumerable,
      get() {
        return cookie.get.call(this);
      },
      set(value) {
        cookie.set.call(this, value);
        const line = String(value);
        const name = line.split(";")[0].split("=")[0].trim();
        const kept = names(cookie.get.call(this)).includes(name);
        send({ kind: "cookie", line, by: caller(), kept });
      },
    });
  }
  if (window.cookieStore?.set) {
    const set = CookieStore.prototype.set;
    CookieStore.prototype.set = function (...args) {
      const by = caller();
      const name = typeof args[0] == "string" ? args[0] : args[0]?.name;
      return set.apply(this, args).then((r) => {
        send({ kind: "cookie", line: `${name}=`, by, kept: true });
        return r;
      });
    };
  }
  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key, value) {
    setItem.call(this, key, value);
    let area = "sessionStorage";
    try {
      if (this === window.localStorage) area = "localStorage";
    } catch {
      // storage refused in this frame
    }
    send({ kind: area, key: String(key), by: caller() });
  };
  if (window.IDBFactory) {
    const open = IDBFactory.prototype.open;
    IDBFactory.prototype.open = function (name, ...rest) {
      send({ kind: "indexedDB", key: String(name), by: caller() });
      return open.call(this, name, ...rest);
    };
  }
})();
"""
