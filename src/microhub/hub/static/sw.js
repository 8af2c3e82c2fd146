// Service worker: serves the app shell cache-first so the point of sale opens with no network.
// The API (/api/) is never cached here: sales live in IndexedDB until the hub acknowledges them.
const CACHE = "microhub-shell-__VERSION__";
const SHELL = [
  "/", "/manifest.webmanifest", "/static/app.css", "/static/app.js", "/static/db.js",
  "/static/journal.js", "/static/pricing.js", "/static/qr.js",
  "/static/icons/icon.svg", "/static/icons/icon-192.png", "/static/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("microhub-shell-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  const key = event.request.mode === "navigate" ? "/" : url.pathname;
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const hit = await cache.match(key);
    if (hit) return hit;
    const response = await fetch(event.request);
    if (response.ok) cache.put(key, response.clone());
    return response;
  }));
});
