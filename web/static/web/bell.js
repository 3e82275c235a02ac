// The notification bell: the unread count and the latest notifications, live.
//
// First GET /notifications/count ({unread, latest_seq}), then subscribe to the user's stream
// from latest_seq: every later notification arrives once, in order, across reconnects;
// notifications_read frames carry the new unread count when they are read anywhere.

import { api } from "./api.js";
import { avatar, clear, h, timeAgo, toast } from "./dom.js";

// A static icon (no user data in it).
function bellIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  for (const d of ["M6 9a6 6 0 1 1 12 0c0 5 2 6.5 2 6.5H4S6 14 6 9Z", "M10 19a2 2 0 0 0 4 0"]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.8");
    path.setAttribute("stroke-linejoin", "round");
    path.setAttribute("stroke-linecap", "round");
    svg.append(path);
  }
  return svg;
}

export class Bell {
  constructor({ root, live, onOpen }) {
    Object.assign(this, { root, live, onOpen });
    this.unread = 0;
    this.items = null; // loaded when the list is first opened
    this.button = h("button", { type: "button", class: "bell-button", "aria-haspopup": "true", "aria-expanded": "false",
      "aria-label": "Notifications", onclick: () => this.toggle() },
    bellIcon(),
    this.badge = h("span", { class: "bell-count", hidden: true }, "0"));
    this.list = h("div", { class: "bell-list", hidden: true, role: "dialog", "aria-label": "Notifications" });
    clear(root).append(this.button, this.list);
    document.addEventListener("click", (e) => { if (!root.contains(e.target)) this.hide(); });
  }

  async start() {
    const { unread, latest_seq: seq } = await api.notificationCount();
    this.setUnread(unread);
    this.live.watchNotifications(seq, {
      onNotification: (n) => {
        if (!n.read_at) this.setUnread(this.unread + 1);
        if (this.items && !this.items.some((i) => i.id === n.id)) { this.items.unshift(n); this.renderList(); }
      },
      onRead: (data) => {
        if (typeof data.unread === "number") this.setUnread(data.unread);
        if (this.items) this.refresh();
      },
      onResync: () => this.recount(),
    });
  }

  async recount() {
    try { this.setUnread((await api.notificationCount()).unread); } catch { /* next frame fixes it */ }
  }

  setUnread(n) {
    this.unread = Math.max(0, n);
    this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
    this.badge.hidden = this.unread === 0;
    this.button.setAttribute("aria-label", `Notifications, ${this.unread} unread`);
  }

  async toggle() {
    if (!this.list.hidden) { this.hide(); return; }
    this.list.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    await this.refresh();
  }

  hide() {
    this.list.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  async refresh() {
    try {
      const page = await api.notifications({ limit: 20 });
      this.items = page.items;
      this.setUnread(page.unread);
    } catch (error) {
      toast(`Could not load notifications: ${error.message}`, "error");
      return;
    }
    this.renderList();
  }

  renderList() {
    const items = this.items || [];
    clear(this.list).append(
      h("div", { class: "bell-head" }, h("strong", {}, "Notifications"), h("span", { class: "spacer" }),
        h("button", { type: "button", class: "link", disabled: this.unread === 0, onclick: () => this.readAll() }, "Mark all read")),
      items.length ? h("ol", {}, items.map((n) => h("li", { class: n.read_at ? "read" : "unread" },
        h("button", { type: "button", class: "notification", onclick: () => this.open(n) },
          avatar(n.actor, "avatar-sm"),
          h("span", { class: "notification-text" }, n.text, h("time", { datetime: n.created_at }, timeAgo(n.created_at)))))))
        : h("p", { class: "muted empty-note" }, "Nothing yet."));
  }

  async open(n) {
    this.hide();
    if (!n.read_at) {
      try {
        const { notification } = await api.readNotification(n.id).then((r) => ({ notification: r.notification || r }));
        Object.assign(n, notification);
        // The absolute count, not a local "- 1": the notifications_read frame may have set it already.
        this.recount();
      } catch { /* the list refreshes next time */ }
    }
    this.onOpen(n);
  }

  async readAll() {
    try {
      // Up to the newest one shown: one that arrives meanwhile, unseen, stays unread.
      const upTo = Math.max(0, ...(this.items || []).map((n) => n.seq));
      const { unread } = await api.readAllNotifications(upTo || undefined);
      this.setUnread(unread);
      for (const n of this.items || []) if (n.seq <= upTo) n.read_at ||= new Date().toISOString();
      this.renderList();
    } catch (error) {
      toast(error.message, "error");
    }
  }
}
