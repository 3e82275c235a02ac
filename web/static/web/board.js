// The board view: columns of cards, kept in step with the server by the live stream.
//
// Loading: GET /projects/{id}/board (its as_of_seq), then subscribe with since = as_of_seq;
// every event after it is applied in seq order (live.js guarantees the order). Applying is
// idempotent, because the snapshot may already hold a few events after as_of_seq: a task
// payload is an upsert by id, ignored when its version is lower than the one held.
// Own writes are applied at once (optimistic) and carry an X-Request-ID; their echo, the
// event with the same request_id, confirms them instead of applying them a second time.

import { api, newRequestId } from "./api.js";
import { avatar, clear, formatDate, h, toast } from "./dom.js";

export const PRIORITIES = ["lowest", "low", "medium", "high", "highest"];
const DEFAULT_PER_COLUMN = 50;

function byRank(a, b) {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class BoardView {
  constructor({ root, live, me, projectId, perColumn, onOpenTask, onNotFound, onProject }) {
    Object.assign(this, { root, live, me, projectId, onOpenTask, onNotFound, onProject });
    this.perColumn = perColumn || DEFAULT_PER_COLUMN;
    this.tasks = new Map(); // id -> task (the loaded cards)
    this.columns = []; // [{id, name, group, position, count, nextCursor, ids: [task ids in board order]}]
    this.cardEls = new Map(); // id -> {el, key}
    this.pendingCreates = new Map(); // request id -> temporary card id
    this.filter = { assignee: "", q: "" };
    this.listeners = new Set(); // the open card panel hears the board's events
    this.presence = [];
    this.observer = new IntersectionObserver((entries) => this.onSentinels(entries), { root: null, rootMargin: "200px" });
  }

  // --- loading -------------------------------------------------------------------------

  async load() {
    let board;
    try {
      board = await api.board(this.projectId, this.perColumn);
    } catch (error) {
      if (error.status === 404 || error.status === 422) { this.onNotFound(); return false; }
      throw error;
    }
    const workspace = await api.workspace(board.project.workspace_id);
    this.role = workspace.role;
    this.workspace = workspace;
    this.takeSnapshot(board);
    this.render();
    this.live.watchProject(this.projectId, board.as_of_seq, {
      onEvent: (event) => this.apply(event),
      onResync: () => this.reload(),
      onGone: () => this.onNotFound(),
      onPresence: (users) => this.setPresence(users),
    });
    this.live.setPresence(this.projectId, null, "viewing");
    return true;
  }

  takeSnapshot(board) {
    this.project = board.project;
    this.members = board.members;
    this.canEdit = this.role === "owner" || (this.role === "editor" && board.members.some((m) => m.user.id === this.me.id));
    this.tasks.clear();
    this.cardEls.clear();
    this.columns = board.statuses.map((s) => ({
      id: s.id, name: s.name, group: s.group, position: s.position, count: s.count,
      nextCursor: s.next_cursor, ids: s.tasks.filter((t) => this.matches(t)).map((t) => t.id),
    }));
    for (const status of board.statuses) for (const task of status.tasks) this.tasks.set(task.id, task);
    this.onProject?.(this.project, this.workspace);
  }

  // A fresh snapshot (after a gap, resync_required, a column or membership change), then the
  // subscription restarts from its as_of_seq. Calls during a reload coalesce into one more.
  async reload() {
    if (this.reloading) { this.reloadAgain = true; return; }
    this.reloading = true;
    try {
      const filtered = this.filter.assignee || this.filter.q;
      const board = await api.board(this.projectId, this.perColumn);
      this.takeSnapshot(board);
      if (filtered) await this.loadFiltered();
      this.render();
      this.live.resubscribe(this.projectId, board.as_of_seq);
      for (const listener of this.listeners) listener({ type: "board_reloaded" });
    } catch (error) {
      if (error.status === 404) this.onNotFound();
      else toast(`Could not reload the board: ${error.message}`, "error");
    } finally {
      this.reloading = false;
      if (this.reloadAgain) { this.reloadAgain = false; this.reload(); }
    }
  }

  scheduleReload() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), 150);
  }

  destroy() {
    this.observer.disconnect();
    this.live.unwatchProject(this.projectId);
    clearTimeout(this.reloadTimer);
  }

  column(id) {
    return this.columns.find((c) => c.id === id);
  }

  matches(task) {
    const { assignee, q } = this.filter;
    if (assignee && task.assignee?.id !== assignee) return false;
    if (q) {
      const needle = q.toLowerCase();
      if (!task.title.toLowerCase().includes(needle) && !(task.description || "").toLowerCase().includes(needle)) return false;
    }
    return true;
  }

  // With a filter on, each column is read again through GET /projects/{id}/tasks with the
  // same filter (the server filters every page, not just the loaded cards).
  async loadFiltered() {
    const { assignee, q } = this.filter;
    const pages = await Promise.all(this.columns.map((col) =>
      api.tasks(this.projectId, { status: col.id, assignee, q, limit: this.perColumn })));
    this.columns.forEach((col, i) => {
      col.ids = pages[i].items.map((t) => t.id);
      col.nextCursor = pages[i].next_cursor;
      for (const task of pages[i].items) this.keep(task);
    });
  }

  async setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    if (this.filter.assignee || this.filter.q) await this.loadFiltered();
    else {
      const board = await api.board(this.projectId, this.perColumn);
      this.takeSnapshot(board);
      this.live.resubscribe(this.projectId, board.as_of_seq);
    }
    this.renderColumns();
  }

  keep(task) {
    const held = this.tasks.get(task.id);
    if (!held || held.version <= task.version) this.tasks.set(task.id, task);
  }

  onSentinels(entries) {
    for (const entry of entries) {
      if (entry.isIntersecting) this.loadMore(this.column(entry.target.dataset.column));
    }
  }

  // The column pages of the API: the next cards of a column, when its end scrolls into view.
  async loadMore(col) {
    if (!col || !col.nextCursor || col.loading) return;
    col.loading = true;
    try {
      const { assignee, q } = this.filter;
      const page = await api.tasks(this.projectId, { status: col.id, cursor: col.nextCursor, assignee, q, limit: this.perColumn });
      for (const task of page.items) {
        if (this.tasks.has(task.id) && this.columnOf(task.id)) continue; // an event brought it already
        this.keep(task);
        col.ids.push(task.id);
      }
      col.nextCursor = page.next_cursor;
      this.renderColumnCards(col);
    } catch (error) {
      toast(`Could not load more cards: ${error.message}`, "error");
    } finally {
      col.loading = false;
    }
    // Observing again reports whether the end is still in view (a short page, a tall
    // screen), and if so the next page follows.
    if (col.nextCursor && col.sentinel) {
      this.observer.unobserve(col.sentinel);
      this.observer.observe(col.sentinel);
    }
  }

  columnOf(taskId) {
    return this.columns.find((c) => c.ids.includes(taskId));
  }

  // --- live events ---------------------------------------------------------------------

  apply(event) {
    const data = event.data || {};
    switch (event.type) {
      case "task_created":
      case "task_restored":
        this.upsert(data.task, { requestId: event.request_id, arriving: true });
        break;
      case "task_updated":
        this.upsert(data.task, { requestId: event.request_id });
        break;
      case "task_moved":
        this.upsert(data.task, { requestId: event.request_id, fromStatusId: data.from_status_id });
        break;
      case "task_archived":
        this.remove(data.task.id, data.task.status.id, data.task.version);
        break;
      case "task_deleted":
        if (!this.remove(data.task_id)) this.scheduleReload(); // not loaded: its column's count is unknown
        break;
      case "project_counts_changed":
        this.project.counts = data.counts;
        // A group with one column: that column's count is the group's count (corrects any drift).
        for (const col of this.columns) {
          if (this.columns.filter((c) => c.group === col.group).length === 1) col.count = data.counts[col.group];
        }
        this.renderCounts();
        this.onProject?.(this.project, this.workspace);
        break;
      case "project_updated":
      case "project_archived":
      case "project_restored":
        this.project = { ...this.project, ...data.project };
        this.renderHeader();
        this.onProject?.(this.project, this.workspace);
        break;
      case "project_status_changed":
        this.project.status = data.new;
        this.project.derived_status = data.derived;
        this.renderHeader();
        break;
      case "status_created":
      case "status_updated":
      case "status_deleted":
      case "member_added":
      case "member_removed":
      case "member_role_changed":
        this.scheduleReload();
        break;
      case "checklist_created":
      case "checklist_updated":
      case "checklist_deleted":
      case "checklist_item_created":
      case "checklist_item_updated":
      case "checklist_item_deleted": {
        const task = this.tasks.get(data.task_id);
        if (task && data.checklist_counts) {
          this.tasks.set(task.id, { ...task, checklist: data.checklist_counts });
          this.refreshCard(task.id);
        }
        break;
      }
      default:
        break;
    }
    for (const listener of this.listeners) listener(event);
  }

  // Put a task where its payload says, adjusting the column counts by what the board knew.
  upsert(task, { requestId, arriving = false, fromStatusId } = {}) {
    if (requestId && this.pendingCreates.has(requestId)) {
      this.confirmCreate(requestId, task);
      return;
    }
    const held = this.tasks.get(task.id);
    if (held && held.version > task.version) return; // older than what the board shows
    if (held && held.version === task.version && held.status.id === task.status.id && held.rank === task.rank) {
      this.tasks.set(task.id, task); // our own echo, or what the snapshot had: nothing moves
      this.refreshCard(task.id);
      return;
    }
    const to = this.column(task.status.id);
    const heldCol = this.columnOf(task.id);
    const from = held ? this.column(held.status.id) : (fromStatusId ? this.column(fromStatusId) : null);
    if (held && !held.archived_at) {
      if (from !== to) { if (from) from.count -= 1; if (to) to.count += 1; }
    } else if (held?.archived_at || arriving) {
      if (to) to.count += 1;
    } else if (from && from !== to) {
      from.count -= 1;
      if (to) to.count += 1;
    }
    if (heldCol) heldCol.ids.splice(heldCol.ids.indexOf(task.id), 1);
    this.tasks.set(task.id, task);
    if (to && this.matches(task) && !task.archived_at) this.insertByRank(to, task);
    if (heldCol && heldCol !== to) this.renderColumnCards(heldCol);
    if (to) this.renderColumnCards(to);
    this.renderCounts();
  }

  insertByRank(col, task) {
    let index = col.ids.findIndex((id) => { const other = this.tasks.get(id); return other && byRank(other, task) > 0; });
    if (index === -1) {
      // After every loaded card: shown only when the column is loaded to its end (else it
      // belongs to a page not loaded yet, and comes with that page).
      if (col.nextCursor) return;
      index = col.ids.length;
    }
    col.ids.splice(index, 0, task.id);
  }

  remove(taskId, statusId, version) {
    const held = this.tasks.get(taskId);
    if (held && version !== undefined && held.version > version) return true;
    const col = this.columnOf(taskId);
    if (col) col.ids.splice(col.ids.indexOf(taskId), 1);
    const counted = this.column(held ? held.status.id : statusId);
    if (counted && !held?.archived_at && (held || statusId)) counted.count -= 1;
    this.tasks.delete(taskId);
    this.cardEls.get(taskId)?.el.remove();
    this.cardEls.delete(taskId);
    if (col) this.renderColumnCards(col);
    this.renderCounts();
    return Boolean(held);
  }

  setPresence(users) {
    this.presence = users || [];
    this.renderPresence();
    for (const col of this.columns) for (const id of col.ids) this.refreshCard(id);
    for (const listener of this.listeners) listener({ type: "presence", users: this.presence });
  }

  // --- writes (optimistic) -------------------------------------------------------------

  async createTask(col, title) {
    const requestId = newRequestId();
    const tempId = `pending-${requestId}`;
    const status = { id: col.id, name: col.name, group: col.group };
    this.tasks.set(tempId, { id: tempId, key: "…", title, status, assignee: null, priority: "medium", rank: "~", version: 0, pending: true });
    this.pendingCreates.set(requestId, tempId);
    col.ids.push(tempId);
    col.count += 1;
    this.renderColumnCards(col);
    this.renderCounts();
    try {
      const task = await api.createTask(this.projectId, { title, status_id: col.id }, requestId);
      if (this.pendingCreates.has(requestId)) this.confirmCreate(requestId, task);
      else this.upsert(task);
    } catch (error) {
      // The echo may have confirmed it already (the write committed, its response was lost):
      // then the card is the server's and stays.
      if (!this.pendingCreates.has(requestId)) return;
      this.pendingCreates.delete(requestId);
      const index = col.ids.indexOf(tempId);
      if (index !== -1) col.ids.splice(index, 1);
      this.tasks.delete(tempId);
      col.count -= 1;
      this.renderColumnCards(col);
      this.renderCounts();
      toast(`Could not create the task: ${error.message}`, "error");
    }
  }

  // The server's task replaces the optimistic card: from the response or from the echo,
  // whichever comes first; the other then finds the task known and changes nothing.
  confirmCreate(requestId, task) {
    const tempId = this.pendingCreates.get(requestId);
    this.pendingCreates.delete(requestId);
    const col = this.columnOf(tempId);
    this.tasks.delete(tempId);
    this.cardEls.get(tempId)?.el.remove();
    this.cardEls.delete(tempId);
    if (col) {
      const index = col.ids.indexOf(tempId);
      if (this.columnOf(task.id) || !this.matches(task)) col.ids.splice(index, 1);
      else col.ids.splice(index, 1, task.id);
    }
    this.keep(task);
    if (col) this.renderColumnCards(col);
  }

  // Move a card to position `index` of column `to` (index among the cards shown there).
  async move(taskId, toId, index) {
    const task = this.tasks.get(taskId);
    const from = this.columnOf(taskId);
    const to = this.column(toId);
    if (!task || !from || !to || task.pending) return;
    const hadFocus = document.activeElement?.dataset?.id === taskId;
    const refocus = () => { if (hadFocus) this.cardEls.get(taskId)?.el.focus({ preventScroll: false }); };
    const oldIndex = from.ids.indexOf(taskId);
    from.ids.splice(oldIndex, 1);
    index = Math.max(0, Math.min(index, to.ids.length));
    if (from === to && index === oldIndex) { from.ids.splice(oldIndex, 0, taskId); return; }
    to.ids.splice(index, 0, taskId);
    const body = { status_id: to.id };
    const after = to.ids[index - 1];
    const before = to.ids[index + 1];
    if (after) body.after_id = after;
    if (before) body.before_id = before;
    if (from !== to) { from.count -= 1; to.count += 1; }
    this.tasks.set(taskId, { ...task, status: { id: to.id, name: to.name, group: to.group } });
    this.renderColumnCards(from);
    if (to !== from) this.renderColumnCards(to);
    this.renderCounts();
    refocus();
    try {
      const moved = await api.moveTask(taskId, body, newRequestId());
      // Our version of the card with the server's rank and version: the echo then matches it.
      const held = this.tasks.get(taskId);
      if (!held || held.version <= moved.version) this.tasks.set(taskId, moved);
      this.refreshCard(taskId);
      if (hadFocus && document.activeElement === document.body) refocus();
    } catch (error) {
      toast(`Could not move ${task.key}: ${error.message}`, "error");
      this.reload();
    }
  }

  // --- rendering -----------------------------------------------------------------------

  render() {
    clear(this.root);
    this.header = h("div", { class: "board-head" });
    this.columnsEl = h("div", { class: "columns", role: "list" });
    // At phone width one column shows at a time: these tabs jump between them.
    this.tabsEl = h("nav", { class: "column-tabs", "aria-label": "Columns" });
    this.announcer = h("div", { class: "sr-only", "aria-live": "assertive" });
    this.root.append(this.header, this.tabsEl, this.columnsEl, this.announcer);
    this.renderHeader();
    this.renderColumns();
  }

  renderHeader() {
    if (!this.header) return;
    const p = this.project;
    const assignees = this.members.filter((m) => m.role !== "viewer");
    const select = h("select", { id: "filter-assignee", "aria-label": "Assignee",
      onchange: (e) => this.setFilter({ assignee: e.target.value }) },
      h("option", { value: "" }, "Anyone"),
      h("option", { value: this.me.id }, "Me"),
      assignees.filter((m) => m.user.id !== this.me.id).map((m) => h("option", { value: m.user.id }, m.user.display_name || m.user.email)));
    select.value = this.filter.assignee;
    let typing;
    const search = h("input", { type: "search", id: "filter-q", placeholder: "Filter cards", "aria-label": "Filter by text",
      value: this.filter.q,
      oninput: (e) => { clearTimeout(typing); typing = setTimeout(() => this.setFilter({ q: e.target.value.trim() }), 250); } });
    clear(this.header).append(
      h("div", { class: "board-title" },
        h("h1", {}, h("span", { class: "project-key" }, p.key), " ", p.name),
        h("span", { class: `status-badge status-${p.status}`, title: p.override ? "Status set by hand" : "Derived from the cards" }, p.status),
        p.archived_at ? h("span", { class: "badge" }, "archived") : null,
        this.canEdit ? null : h("span", { class: "badge", title: "You can read this board and comment" }, "read only")),
      h("div", { class: "board-tools" },
        this.presenceEl = h("div", { class: "presence", "aria-label": "Also here" }),
        h("label", { class: "filter" }, select),
        h("label", { class: "filter" }, search)));
    this.renderPresence();
  }

  renderPresence() {
    if (!this.presenceEl) return;
    const others = new Map();
    for (const entry of this.presence) if (entry.user.id !== this.me.id) others.set(entry.user.id, entry.user);
    clear(this.presenceEl).append(...[...others.values()].map((u) => avatar(u, "avatar-presence")));
  }

  renderColumns() {
    this.observer.disconnect();
    clear(this.columnsEl);
    clear(this.tabsEl).append(...this.columns.map((col) => h("button", {
      type: "button", class: "column-tab",
      onclick: () => col.el?.scrollIntoView({ behavior: "smooth", block: "nearest", inline: "center" }) },
    col.name, " ", col.tabCountEl = h("span", { class: "count" }, String(col.count)))));
    for (const col of this.columns) {
      const list = h("ol", { class: "cards", dataset: { column: col.id }, "aria-label": `${col.name} cards` });
      const sentinel = h("li", { class: "sentinel", dataset: { column: col.id }, "aria-hidden": "true" });
      col.el = h("section", { class: `column group-${col.group}`, role: "listitem", dataset: { column: col.id } },
        h("header", { class: "column-head" },
          h("h2", {}, col.name),
          col.countEl = h("span", { class: "count", title: "Cards in this column" }, String(col.count))),
        list,
        this.canEdit ? this.addForm(col) : null);
      col.listEl = list;
      col.sentinel = sentinel;
      if (this.canEdit) this.dropTarget(col, list);
      this.columnsEl.append(col.el);
      this.renderColumnCards(col);
      this.observer.observe(sentinel);
    }
  }

  renderCounts() {
    for (const col of this.columns) {
      if (col.countEl) col.countEl.textContent = String(col.count);
      if (col.tabCountEl) col.tabCountEl.textContent = String(col.count);
    }
  }

  // Bring the column's list in line with col.ids, moving only what changed.
  renderColumnCards(col) {
    const list = col.listEl;
    if (!list) return;
    // Moving or replacing a focused card blurs it: keep the keyboard user's place.
    const focusedId = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    const wanted = col.ids.map((id) => this.cardElement(id)).filter(Boolean);
    wanted.forEach((el, i) => {
      const current = list.children[i];
      if (current !== el) list.insertBefore(el, current || null);
    });
    for (let i = wanted.length; i < list.children.length;) {
      const extra = list.children[i];
      if (extra === col.sentinel) i += 1;
      else extra.remove();
    }
    if (list.lastElementChild !== col.sentinel) list.append(col.sentinel);
    list.classList.toggle("empty", col.ids.length === 0);
    const focused = focusedId && this.cardEls.get(focusedId)?.el;
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
  }

  cardKey(task) {
    const viewers = this.presence.filter((p) => p.task_id === task.id && p.user.id !== this.me.id).map((p) => p.user.id).join();
    return `${task.version}|${task.status.id}|${task.checklist?.done}/${task.checklist?.total}|${viewers}`;
  }

  cardElement(id) {
    const task = this.tasks.get(id);
    if (!task) return null;
    const key = this.cardKey(task);
    const held = this.cardEls.get(id);
    if (held && held.key === key) return held.el;
    const el = this.buildCard(task);
    if (held) held.el.replaceWith(el);
    this.cardEls.set(id, { el, key });
    return el;
  }

  refreshCard(id) {
    const held = this.cardEls.get(id);
    if (!held || !held.el.isConnected) return;
    const focused = document.activeElement === held.el;
    this.cardElement(id);
    if (focused) this.cardEls.get(id).el.focus();
  }

  buildCard(task) {
    const viewers = this.presence.filter((p) => p.task_id === task.id && p.user.id !== this.me.id);
    const meta = [
      h("span", { class: `priority priority-${task.priority}`, title: `Priority: ${task.priority}` }, task.priority),
      task.due_date ? h("span", { class: "due", title: `Due ${task.due_date}` }, formatDate(task.due_date)) : null,
      task.checklist && task.checklist.total ? h("span", {
        class: `checklist-count${task.checklist.done === task.checklist.total ? " complete" : ""}`,
        title: "Checklist items done" }, `☑ ${task.checklist.done}/${task.checklist.total}`) : null,
    ];
    const card = h("li", {
      class: `card${task.pending ? " pending" : ""}`, tabindex: "0", dataset: { id: task.id, key: task.key },
      draggable: this.canEdit && !task.pending ? "true" : null,
      "aria-label": `${task.key} ${task.title}`,
      "aria-roledescription": this.canEdit ? "movable card" : "card",
      title: this.canEdit ? "Drag, or Shift + arrow keys to move" : null,
    },
    this.canEdit ? h("span", { class: "drag-handle", "aria-hidden": "true" }) : null,
    h("div", { class: "card-top" },
      h("span", { class: "card-key" }, task.key),
      viewers.length ? h("span", { class: "card-viewers" }, viewers.map((v) => avatar(v.user, "avatar-xs"))) : null),
    h("div", { class: "card-title" }, task.title),
    h("div", { class: "card-meta" }, meta, h("span", { class: "spacer" }),
      task.assignee ? avatar(task.assignee, "avatar-sm") : null));
    card.addEventListener("click", () => { if (!task.pending) this.onOpenTask(task.id); });
    card.addEventListener("keydown", (e) => this.onCardKey(e, task.id));
    if (this.canEdit && !task.pending) {
      card.addEventListener("dragstart", (e) => {
        this.dragId = task.id;
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", task.id);
        requestAnimationFrame(() => card.classList.add("dragging"));
      });
      card.addEventListener("dragend", () => {
        card.classList.remove("dragging");
        this.dragId = null;
        this.placeholder?.remove();
      });
    }
    return card;
  }

  addForm(col) {
    const input = h("input", { type: "text", maxlength: "500", placeholder: "Task title", "aria-label": `New task in ${col.name}`, class: "add-input" });
    const form = h("form", { class: "add-task", hidden: true },
      input,
      h("div", { class: "add-actions" },
        h("button", { type: "submit", class: "primary small" }, "Add"),
        h("button", { type: "button", class: "link", onclick: () => { form.hidden = true; open.hidden = false; } }, "Cancel")));
    const open = h("button", { type: "button", class: "add-open", onclick: () => { form.hidden = false; open.hidden = true; input.focus(); } }, "+ Add task");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const title = input.value.trim();
      if (!title) return;
      input.value = "";
      this.createTask(col, title);
    });
    input.addEventListener("keydown", (e) => { if (e.key === "Escape") { form.hidden = true; open.hidden = false; open.focus(); } });
    return h("div", { class: "column-foot" }, open, form);
  }

  // Native HTML drag and drop: a placeholder shows where the card will land.
  dropTarget(col, list) {
    const spot = (e) => {
      const cards = [...list.querySelectorAll(".card:not(.dragging)")];
      const below = cards.find((c) => { const r = c.getBoundingClientRect(); return e.clientY < r.top + r.height / 2; });
      return { cards, below };
    };
    list.addEventListener("dragover", (e) => {
      if (!this.dragId) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      const { below } = spot(e);
      this.placeholder ||= h("li", { class: "drop-placeholder", "aria-hidden": "true" });
      if (below) list.insertBefore(this.placeholder, below);
      else list.insertBefore(this.placeholder, col.sentinel);
    });
    list.addEventListener("drop", (e) => {
      if (!this.dragId) return;
      e.preventDefault();
      const { cards, below } = spot(e);
      const index = below ? cards.indexOf(below) : cards.length;
      const id = this.dragId;
      this.placeholder?.remove();
      this.move(id, col.id, index);
    });
  }

  // Keyboard: arrows move the focus between cards; Shift + arrows move the focused card.
  onCardKey(e, id) {
    const col = this.columnOf(id);
    if (!col) return;
    const index = col.ids.indexOf(id);
    const ci = this.columns.indexOf(col);
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.onOpenTask(id);
      return;
    }
    const step = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] }[e.key];
    if (!step) return;
    e.preventDefault();
    const [dc, di] = step;
    if (e.shiftKey && this.canEdit) {
      const target = this.columns[ci + dc];
      if (!target) return;
      const to = dc ? Math.min(index, target.ids.length) : index + di;
      if (!dc && (to < 0 || to >= col.ids.length)) return;
      const task = this.tasks.get(id);
      this.announcer.textContent = `${task.key} moved to ${target.name}, position ${to + 1}.`;
      this.move(id, target.id, to);
      return;
    }
    const target = this.columns[ci + dc];
    if (!target) return;
    const nextId = dc ? target.ids[Math.min(index, target.ids.length - 1)] : col.ids[index + di];
    if (nextId) this.cardEls.get(nextId)?.el.focus();
  }
}
