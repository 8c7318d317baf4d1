// The live feed: recent messages, each turning from "queued" to "persisted".
//
// Entries come from two places: the ids that this page's own bursts were given (queued,
// content not known yet) and the newest stored rows that GET /messages returns. A
// batch_persisted event flips its ids to persisted; a later poll fills in the content.

const REMEMBERED_IDS = 5000; // ids remembered per set, oldest forgotten first

const clock = (ms) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false });

// A Set that forgets its oldest members past `limit`, so it stays small over hours.
class RecentIds extends Set {
  constructor(limit) {
    super();
    this.limit = limit;
  }

  add(id) {
    super.add(id);
    if (this.size > this.limit) this.delete(this.values().next().value);
    return this;
  }
}

export class Feed {
  constructor(list, empty, { size }) {
    this.list = list;
    this.empty = empty;
    this.size = size;
    this.entries = new Map(); // message_id -> <li>
    this.persisted = new RecentIds(REMEMBERED_IDS); // the event may beat the POST's answer
    this.shown = new RecentIds(REMEMBERED_IDS); // ids trimmed off the bottom stay off
    this.serverOffsetMs = 0; // server clock minus ours, from the stats timestamps
  }

  // Ids that this page just queued (POST /simulate answered). Their acceptance time is
  // estimated on the server's clock (see serverOffsetMs) so they sort among stored rows.
  addQueued(ids) {
    const acceptedAt = Date.now() + this.serverOffsetMs;
    for (const id of ids.slice(-this.size)) {
      if (this.shown.has(id)) continue;
      this.shown.add(id);
      this.insert(this.render(id, this.persisted.has(id) ? "persisted" : "queued", acceptedAt));
    }
    this.trim();
  }

  // Rows from GET /messages (newest first): add the ones not shown, complete placeholders.
  mergeStored(rows) {
    for (const row of rows) {
      let item = this.entries.get(row.message_id);
      if (!item) {
        const acceptedAt = Date.parse(row.created_at);
        if (this.shown.has(row.message_id) || (this.entries.size >= this.size && acceptedAt < this.oldestShown())) continue;
        this.shown.add(row.message_id);
        item = this.render(row.message_id, "persisted", acceptedAt);
        this.insert(item);
      } else {
        this.setStatus(item, "persisted");
      }
      this.fill(item, row);
    }
    this.trim();
  }

  // A batch_persisted event: its ids are now rows.
  markPersisted(ids) {
    for (const id of ids) {
      this.persisted.add(id);
      const item = this.entries.get(id);
      if (item) this.setStatus(item, "persisted");
    }
  }

  oldestShown() {
    const oldest = this.list.lastElementChild;
    return oldest ? Number(oldest.dataset.acceptedAt) : -Infinity;
  }

  // Keep the list newest first by acceptance time.
  insert(item) {
    const acceptedAt = Number(item.dataset.acceptedAt);
    let before = this.list.firstElementChild;
    while (before && Number(before.dataset.acceptedAt) > acceptedAt) before = before.nextElementSibling;
    this.list.insertBefore(item, before);
    this.entries.set(item.dataset.id, item);
  }

  render(id, status, acceptedAt) {
    const item = document.createElement("li");
    item.dataset.id = id;
    item.dataset.status = status;
    item.dataset.acceptedAt = String(acceptedAt);
    item.innerHTML = '<span class="status"></span><span class="who"></span><span class="content pending"></span><time class="when"></time>';
    item.querySelector(".status").textContent = status;
    item.querySelector(".who").textContent = `msg ${id.slice(0, 8)}`;
    item.querySelector(".content").textContent = status === "queued" ? "waiting for its batch…" : "stored";
    item.querySelector(".when").textContent = clock(acceptedAt);
    return item;
  }

  fill(item, row) {
    if (item.dataset.filled) return;
    item.dataset.filled = "1";
    item.querySelector(".who").textContent = `#${row.channel_id} · user ${row.user_id}`;
    const content = item.querySelector(".content");
    content.textContent = row.content;
    content.classList.remove("pending");
    const acceptedAt = Date.parse(row.created_at);
    if (Number.isFinite(acceptedAt)) item.querySelector(".when").textContent = clock(acceptedAt);
  }

  setStatus(item, status) {
    if (item.dataset.status === status) return;
    item.dataset.status = status;
    item.querySelector(".status").textContent = status;
    if (item.querySelector(".content.pending")) item.querySelector(".content").textContent = "stored · loading content…";
    item.classList.add("just-persisted");
  }

  trim() {
    while (this.list.children.length > this.size) {
      const last = this.list.lastElementChild;
      this.entries.delete(last.dataset.id);
      last.remove();
    }
    this.empty.hidden = this.list.children.length > 0;
  }
}
