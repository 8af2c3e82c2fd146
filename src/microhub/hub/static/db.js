// IndexedDB: the device's credential and signing key, its series head, the cached catalog, and
// every record and walk-in until the hub has acknowledged it. A sale is committed here (strict
// durability) before the app shows success.

const NAME = "microhub";
let opened = null;

export function openDb() {
  if (opened) return opened;
  opened = new Promise((resolve, reject) => {
    const req = indexedDB.open(NAME, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("kv");
      db.createObjectStore("records", { keyPath: "seq" });
      db.createObjectStore("walkins", { keyPath: "id" });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return opened;
}

const done = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error);
  tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
});
const result = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

async function tx(stores, mode) {
  const db = await openDb();
  return db.transaction(stores, mode, { durability: "strict" });
}

export async function get(key) {
  const t = await tx(["kv"], "readonly");
  return result(t.objectStore("kv").get(key));
}

export async function put(key, value) {
  const t = await tx(["kv"], "readwrite");
  t.objectStore("kv").put(value, key);
  return done(t);
}

// Store a record and move the head in ONE transaction; refuse if the head moved meanwhile.
export async function commitRecord(record, expectedSeq, head) {
  const t = await tx(["kv", "records"], "readwrite");
  const kv = t.objectStore("kv");
  const current = await result(kv.get("head"));
  if ((current ? current.seq : 0) !== expectedSeq) {
    t.abort();
    throw new Error("another tab sold at the same time: try again");
  }
  t.objectStore("records").put(record);
  kv.put(head, "head");
  return done(t);
}

export async function records(filter = () => true) {
  const t = await tx(["records"], "readonly");
  const all = await result(t.objectStore("records").getAll());
  return all.filter(filter).sort((a, b) => a.seq - b.seq);
}

export async function updateRecords(changes) {
  const t = await tx(["records"], "readwrite");
  const store = t.objectStore("records");
  for (const [seq, patch] of changes) {
    const rec = await result(store.get(seq));
    if (rec) store.put({ ...rec, ...patch });
  }
  return done(t);
}

export async function countWaiting() {
  const t = await tx(["records", "walkins"], "readonly");
  const recs = await result(t.objectStore("records").getAll());
  const walks = await result(t.objectStore("walkins").getAll());
  return {
    records: recs.filter((r) => r.status === "waiting").length,
    refused: recs.filter((r) => r.status === "refused").length,
    walkins: walks.filter((w) => w.status === "waiting").length,
    walkinsToday: walks.filter((w) => w.time.slice(0, 10) === new Date().toISOString().slice(0, 10))
      .reduce((a, w) => a + w.count, 0),
  };
}

export async function addWalkin(walkin) {
  const t = await tx(["walkins"], "readwrite");
  t.objectStore("walkins").put(walkin);
  return done(t);
}

export async function walkins(status = "waiting") {
  const t = await tx(["walkins"], "readonly");
  return (await result(t.objectStore("walkins").getAll())).filter((w) => w.status === status);
}

export async function markWalkins(ids) {
  const t = await tx(["walkins"], "readwrite");
  const store = t.objectStore("walkins");
  for (const id of ids) {
    const w = await result(store.get(id));
    if (w) store.put({ ...w, status: "uploaded" });
  }
  return done(t);
}
