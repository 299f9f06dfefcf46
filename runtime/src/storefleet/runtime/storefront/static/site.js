// Progressive enhancement only: every form works without this file.
document.querySelectorAll("form[data-autosubmit]").forEach((form) => {
  form.classList.add("js");
  form.addEventListener("change", () => form.requestSubmit());
});

// In-app messages for a signed-in shopper, as they arrive (order paid, shipped
// ...). The page only has #inbox-toasts when someone is signed in; its feed
// answers with the stream's URL, token included, so the token is never in the
// HTML. Without JavaScript nothing is lost: the same messages go by e-mail.
(() => {
  const region = document.getElementById("inbox-toasts");
  if (!region || !("EventSource" in window) || !("fetch" in window)) return;
  const SEEN = "sf-inbox-seen";
  // A tab's first page shows only what is new and unread, not the backlog.
  const FRESH_MS = 2 * 60 * 1000;
  const MAX_TOASTS = 3;
  // A toast counts as seen once dismissed or on screen this long; one that
  // arrived just before the shopper moved on (the payment message on the
  // checkout page, say) shows again on the next page.
  const SEEN_AFTER_MS = 6000;
  // Storage can be refused (privacy settings): then every page is a first page.
  const stored = () => {
    try {
      return sessionStorage.getItem(SEEN);
    } catch {
      return null;
    }
  };
  let seen = Number(stored() || 0);
  const firstPage = !stored();
  let source = null;
  let failures = 0;

  const remember = (seq) => {
    if (seq > seen) {
      seen = seq;
      try {
        sessionStorage.setItem(SEEN, String(seq));
      } catch {
        // Not remembered: the next page shows only fresh, unread messages.
      }
    }
  };

  const show = (message) => {
    const toast = document.createElement("div");
    toast.className = "toast";
    toast.dataset.seq = String(message.seq);
    const title = document.createElement("strong");
    title.textContent = message.title;
    toast.append(title);
    if (message.body && message.body !== message.title) {
      const body = document.createElement("p");
      body.textContent = message.body.length > 280 ? message.body.slice(0, 277) + "…" : message.body;
      toast.append(body);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "×";
    close.addEventListener("click", () => {
      remember(message.seq);
      toast.remove();
    });
    toast.append(close);
    region.append(toast);
    while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
  };

  const shownHere = new Set();
  const wanted = (message) => {
    if (message.seq <= seen || shownHere.has(message.seq)) return false;
    if (!firstPage) return true;
    const age = Date.now() - Date.parse(message.created_at);
    return !message.read && age < FRESH_MS;
  };

  const connect = async () => {
    let answer;
    try {
      answer = await fetch(region.dataset.feed, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
    } catch {
      return retry();
    }
    if (answer.status === 401) return; // signed out meanwhile: nothing to stream
    let url;
    try {
      if (!answer.ok) throw new Error(`feed answered ${answer.status}`);
      ({ url } = await answer.json());
    } catch {
      return retry();
    }
    const stream = new EventSource(url);
    source = stream;
    stream.addEventListener("open", () => {
      failures = 0;
    });
    stream.addEventListener("notification", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (wanted(message)) {
        shownHere.add(message.seq);
        show(message);
        setTimeout(() => remember(message.seq), SEEN_AFTER_MS);
      } else {
        remember(message.seq);
      }
    });
    stream.addEventListener("error", () => {
      // EventSource retries a dropped stream itself; it gives up (CLOSED) when
      // the answer is not a stream, e.g. the token expired: fetch a fresh URL.
      if (stream.readyState === EventSource.CLOSED && source === stream) {
        source = null;
        retry();
      }
    });
  };

  const retry = () => {
    failures += 1;
    if (failures > 8) return;
    setTimeout(connect, Math.min(30000, 1000 * 2 ** failures));
  };

  window.addEventListener("pagehide", () => {
    if (source) source.close();
    source = null;
  });
  // A page restored from the back/forward cache needs its stream again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && !source) connect();
  });
  connect();
})();
