// The rarer parts of consentmgr's Matomo tracker (static/js/matomo.js): custom
// variables, e-commerce, content tracking and the heartbeat. The tracker loads this
// from its own origin on the first such call, so only after analytics consent;
// the calls made meanwhile wait for it, in order. It hands its methods to the
// tracker through the script element the tracker made for it.
(() => {
  const install = ({ state, send, has }) => {
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
      setCustomVariable: (index, name, value = "", scope) =>
        index > 0 && name != null && cvars(scope, (v) => (v[index] = [`${name}`.slice(0, 200), `${value}`.slice(0, 200)])),
      deleteCustomVariable: (index, scope) => cvars(scope, (v) => delete v[index]),
      deleteCustomVariables: (scope) => cvars(scope, (v) => Object.keys(v).forEach((i) => delete v[i])),
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
    return api;
  };

  document.currentScript.x(install);
})();
