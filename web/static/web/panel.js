// The card panel: one task's fields, checklists, comments (with @ mentions) and activity.
//
// Field edits are PATCHed with If-Match: the version the edit started from. A live change by
// someone else updates the fields nobody is typing in; a field being typed in keeps its text
// and its base version, so saving it after someone else's change answers 412, and the panel
// then shows the server's version (the 412's body) and says the change was not saved.

import { api, newRequestId } from "./api.js";
import { avatar, clear, h, renderMentions, timeAgo, toast } from "./dom.js";
import { PRIORITIES } from "./board.js";

const TYPES = ["task", "story", "bug", "epic", "subtask"];

const VERBS = {
  task_created: "created this task", task_updated: "edited this task", task_moved: "moved this task",
  task_archived: "archived this task", task_restored: "restored this task", comment_added: "commented",
  comment_updated: "edited a comment", comment_deleted: "deleted a comment",
  checklist_created: "added a checklist", checklist_updated: "renamed a checklist", checklist_deleted: "removed a checklist",
  checklist_item_created: "added a checklist item", checklist_item_updated: "updated a checklist item",
  checklist_item_deleted: "removed a checklist item",
};

function eventTaskId(event) {
  const d = event.data || {};
  return d.task?.id || d.task_id || d.comment?.task_id || d.item?.task_id || d.checklist?.task_id || null;
}

export class CardPanel {
  constructor({ root, board, live, me, taskId, onClose }) {
    Object.assign(this, { root, board, live, me, taskId, onClose });
    this.dirty = new Set();
    this.comments = [];
    this.mentionMap = new Map(); // "@Name" as typed -> user id
    this.listener = (event) => this.onBoardEvent(event);
    this.onKey = (e) => { if (e.key === "Escape" && !e.target.closest?.(".mention-picker")) this.onClose(); };
  }

  get canEdit() { return this.board.canEdit; }

  get people() { return this.board.members.map((m) => m.user); }

  async open() {
    let task;
    try {
      task = await api.task(this.taskId);
    } catch (error) {
      toast(error.status === 404 ? "That task does not exist, or you cannot see it." : error.message, "error");
      this.onClose();
      return;
    }
    if (task.project_id !== this.board.projectId) { this.onClose(); return; }
    this.task = task;
    this.baseVersion = task.version;
    this.board.listeners.add(this.listener);
    document.addEventListener("keydown", this.onKey);
    this.render();
    this.root.hidden = false;
    this.autosize(this.fields.title);
    document.body.classList.add("panel-open");
    this.live.setPresence(this.board.projectId, this.taskId, "viewing");
    const loads = [this.loadComments()];
    // Checklists and activity come with issue 16's API: a task resource with `checklist`
    // says the server has them.
    if ("checklist" in task) loads.push(this.loadChecklists(), this.loadActivity());
    await Promise.all(loads);
  }

  close() {
    this.board.listeners.delete(this.listener);
    document.removeEventListener("keydown", this.onKey);
    this.live.setPresence(this.board.projectId, null, "viewing");
    clearTimeout(this.typingTimer);
    clear(this.root);
    this.root.hidden = true;
    document.body.classList.remove("panel-open");
  }

  // --- live ----------------------------------------------------------------------------

  onBoardEvent(event) {
    if (event.type === "presence") { this.renderPresence(); return; }
    if (event.type === "board_reloaded") {
      api.task(this.taskId).then((task) => this.takeTask(task)).catch(() => {});
      return;
    }
    if (eventTaskId(event) !== this.taskId) return;
    const d = event.data || {};
    if (d.task && d.task.id === this.taskId) this.takeTask(d.task);
    if (event.type === "task_deleted") { toast(`${this.task.key} was deleted.`); this.onClose(); return; }
    if (event.type === "comment_added" && !this.comments.some((c) => c.id === d.comment.id)) {
      this.comments.push(d.comment);
      this.renderComments();
    } else if (event.type === "comment_updated") {
      this.comments = this.comments.map((c) => (c.id === d.comment.id ? d.comment : c));
      this.renderComments();
    } else if (event.type === "comment_deleted") {
      this.comments = this.comments.filter((c) => c.id !== d.comment_id);
      this.renderComments();
    }
    if (event.type.startsWith("checklist")) this.scheduleChecklists();
    if (this.activity && event.seq && !this.activity.some((e) => e.seq === event.seq)) {
      this.activity.unshift(event);
      this.renderActivity();
    }
  }

  // A newer version of the task: fields nobody is editing show it; the base version moves
  // only when nothing is being edited.
  takeTask(task, { force = false } = {}) {
    if (!force && task.version < this.task.version) return;
    this.task = task;
    if (force || this.dirty.size === 0) this.baseVersion = task.version;
    this.fillFields(force);
  }

  // --- rendering -----------------------------------------------------------------------

  render() {
    const t = this.task;
    const ro = !this.canEdit;
    const statuses = this.board.columns;
    const assignable = this.board.members;
    this.fields = {
      title: h("textarea", { class: "field-title", rows: "1", maxlength: "500", "aria-label": "Title", readonly: ro }),
      status_id: h("select", { "aria-label": "Status", disabled: ro }, statuses.map((s) => h("option", { value: s.id }, s.name))),
      assignee_id: h("select", { "aria-label": "Assignee", disabled: ro }, h("option", { value: "" }, "Unassigned"),
        assignable.map((m) => h("option", { value: m.user.id }, m.user.display_name || m.user.email))),
      priority: h("select", { "aria-label": "Priority", disabled: ro }, PRIORITIES.map((p) => h("option", { value: p }, p[0].toUpperCase() + p.slice(1)))),
      type: h("select", { "aria-label": "Type", disabled: ro }, TYPES.map((p) => h("option", { value: p }, p[0].toUpperCase() + p.slice(1)))),
      due_date: h("input", { type: "date", "aria-label": "Due date", readonly: ro, disabled: ro }),
      story_points: h("input", { type: "number", min: "0", max: "1000", step: "1", "aria-label": "Story points", readonly: ro, disabled: ro }),
      description: h("textarea", { class: "field-description", rows: "5", maxlength: "100000", placeholder: ro ? "No description" : "Add a description…", "aria-label": "Description", readonly: ro }),
    };
    if (!ro) this.wireFields();
    this.conflictEl = h("div", { class: "conflict", role: "alert", hidden: true });
    this.presenceEl = h("div", { class: "panel-presence" });
    this.commentsEl = h("ol", { class: "comments" });
    this.checklistsEl = h("section", { class: "panel-section checklists", hidden: true });
    this.activityEl = h("section", { class: "panel-section activity", hidden: true });
    const row = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
    clear(this.root).append(
      h("div", { class: "panel-head" },
        h("span", { class: "card-key" }, t.key),
        this.presenceEl,
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "icon close", "aria-label": "Close", onclick: () => this.onClose() }, "×")),
      h("div", { class: "panel-body" },
        this.conflictEl,
        this.fields.title,
        h("div", { class: "field-grid" },
          row("Status", this.fields.status_id), row("Assignee", this.fields.assignee_id),
          row("Priority", this.fields.priority), row("Type", this.fields.type),
          row("Due", this.fields.due_date), row("Points", this.fields.story_points)),
        h("section", { class: "panel-section" }, h("h3", {}, "Description"), this.fields.description),
        this.checklistsEl,
        h("section", { class: "panel-section" }, h("h3", {}, "Comments"), this.commentsEl, this.composer()),
        this.activityEl));
    this.fillFields(true);
    this.renderPresence();
  }

  fieldValue(name) {
    const t = this.task;
    return {
      title: t.title, status_id: t.status.id, assignee_id: t.assignee?.id || "", priority: t.priority, type: t.type,
      due_date: t.due_date || "", story_points: t.story_points ?? "", description: t.description || "",
    }[name];
  }

  fillFields(force) {
    for (const [name, el] of Object.entries(this.fields)) {
      if (!force && this.dirty.has(name)) continue;
      el.value = String(this.fieldValue(name));
    }
    this.autosize(this.fields.title);
  }

  autosize(el) {
    el.style.height = "auto";
    el.style.height = `${el.scrollHeight}px`;
  }

  wireFields() {
    const { title, description } = this.fields;
    for (const [name, el] of Object.entries(this.fields)) {
      el.addEventListener("input", () => {
        this.dirty.add(name);
        if (el === title) this.autosize(el);
        this.live.setPresence(this.board.projectId, this.taskId, "editing");
      });
      if (el.tagName === "SELECT" || el.type === "date") el.addEventListener("change", () => this.save(name));
      else el.addEventListener("blur", () => { if (this.dirty.has(name)) this.save(name); });
    }
    title.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); this.save("title"); }
      if (e.key === "Escape") { this.dirty.delete("title"); this.fillFields(false); e.stopPropagation(); title.blur(); }
    });
    description.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.save("description"); }
    });
  }

  async save(name) {
    const el = this.fields[name];
    let value = el.value;
    if (name === "title") {
      value = value.trim();
      if (!value) { this.dirty.delete(name); this.fillFields(false); return; }
    }
    if (name === "story_points") value = value === "" ? null : Number(value);
    if ((name === "assignee_id" || name === "due_date") && value === "") value = null;
    if (String(value ?? "") === String(this.fieldValue(name))) { this.dirty.delete(name); return; }
    const requestId = newRequestId();
    this.saving = (this.saving || 0) + 1;
    try {
      const task = await api.patchTask(this.taskId, { [name]: value }, this.baseVersion, requestId);
      this.dirty.delete(name);
      this.conflictEl.hidden = true;
      this.takeTask(task);
      if (this.dirty.size === 0) this.baseVersion = task.version;
      this.board.upsert(task);
    } catch (error) {
      this.dirty.delete(name);
      if (error.status === 412 && error.body?.id) {
        // Someone saved first: show their version, and say what was not saved.
        this.dirty.clear();
        this.takeTask(error.body, { force: true });
        this.board.upsert(error.body);
        const label = { title: "title", description: "description", story_points: "points", due_date: "due date",
          assignee_id: "assignee", status_id: "status" }[name] || name;
        clear(this.conflictEl).append(
          h("strong", {}, "Someone else changed this task first."),
          ` Your ${label} was not saved; this is the current version.`,
          name === "title" || name === "description" ? h("div", { class: "lost" }, "You wrote: ", h("q", {}, String(value))) : null);
        this.conflictEl.hidden = false;
      } else {
        toast(`Not saved: ${error.message}`, "error");
        this.fillFields(false);
      }
    } finally {
      this.saving -= 1;
      if (this.dirty.size === 0) this.live.setPresence(this.board.projectId, this.taskId, "viewing");
    }
  }

  renderPresence() {
    if (!this.presenceEl) return;
    const here = this.board.presence.filter((p) => p.task_id === this.taskId && p.user.id !== this.me.id);
    clear(this.presenceEl).append(...here.map((p) => avatar(p.user, `avatar-sm state-${p.state}`)));
    if (this.typingEl) {
      const typing = here.filter((p) => p.state === "typing").map((p) => p.user.display_name || p.user.email);
      this.typingEl.textContent = typing.length ? `${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…` : "";
    }
  }

  // --- comments ------------------------------------------------------------------------

  async loadComments() {
    try {
      this.comments = await api.comments(this.taskId);
    } catch (error) {
      toast(`Could not load the comments: ${error.message}`, "error");
    }
    this.renderComments();
  }

  renderComments() {
    const byId = new Map(this.people.map((p) => [p.id, p]));
    clear(this.commentsEl).append(...this.comments.map((c) => {
      const people = [...(c.mentions || []), ...byId.values()];
      return h("li", { class: "comment", dataset: { id: c.id } },
        avatar(c.author, "avatar-sm"),
        h("div", { class: "comment-main" },
          h("div", { class: "comment-head" }, h("strong", {}, c.author?.display_name || "Someone"), " ",
            h("time", { datetime: c.created_at, title: c.created_at }, timeAgo(c.created_at))),
          h("div", { class: "comment-body" }, renderMentions(c.body, people))));
    }));
    if (!this.comments.length) this.commentsEl.append(h("li", { class: "muted empty-note" }, "No comments yet."));
  }

  composer() {
    const box = h("textarea", { class: "comment-input", rows: "2", maxlength: "50000", placeholder: "Write a comment… (@ to mention)", "aria-label": "Comment" });
    const picker = h("ul", { class: "mention-picker", role: "listbox", hidden: true });
    this.typingEl = h("div", { class: "typing muted", "aria-live": "polite" });
    let choices = [];
    let active = 0;
    const query = () => {
      const before = box.value.slice(0, box.selectionStart);
      const match = before.match(/(^|\s)@([^\s@<>]{0,30})$/);
      return match ? { text: match[2], start: before.length - match[2].length - 1 } : null;
    };
    const showPicker = () => {
      const q = query();
      if (!q) { picker.hidden = true; return; }
      const needle = q.text.toLowerCase();
      choices = this.people.filter((p) => p.id !== this.me.id && ((p.display_name || "").toLowerCase().includes(needle)
        || p.email.toLowerCase().startsWith(needle))).slice(0, 8);
      active = 0;
      clear(picker).append(...choices.map((p, i) => h("li", {
        role: "option", class: i === active ? "active" : "", dataset: { id: p.id },
        onmousedown: (e) => { e.preventDefault(); choose(p); } }, avatar(p, "avatar-xs"), " ", p.display_name || p.email)));
      picker.hidden = choices.length === 0;
    };
    const choose = (person) => {
      const q = query();
      if (!q) return;
      const label = `@${person.display_name || person.email}`;
      this.mentionMap.set(label, person.id);
      box.value = box.value.slice(0, q.start) + label + " " + box.value.slice(box.selectionStart);
      const caret = q.start + label.length + 1;
      box.setSelectionRange(caret, caret);
      picker.hidden = true;
      box.focus();
    };
    box.addEventListener("input", () => {
      showPicker();
      this.live.setPresence(this.board.projectId, this.taskId, "typing");
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => this.live.setPresence(this.board.projectId, this.taskId, "viewing"), 3000);
    });
    box.addEventListener("keydown", (e) => {
      if (!picker.hidden && choices.length) {
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          active = (active + (e.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
          [...picker.children].forEach((li, i) => li.classList.toggle("active", i === active));
          return;
        }
        if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); choose(choices[active]); return; }
        if (e.key === "Escape") { e.stopPropagation(); picker.hidden = true; return; }
      }
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
    box.addEventListener("blur", () => setTimeout(() => { picker.hidden = true; }, 100));
    const form = h("form", { class: "composer" },
      h("div", { class: "composer-box" }, box, picker),
      h("div", { class: "composer-actions" }, this.typingEl, h("span", { class: "spacer" }),
        h("button", { type: "submit", class: "primary small" }, "Comment")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = box.value.trim();
      if (!text) return;
      // The API's mention syntax: <@USER_ID>. Longer names first, so "@Ana B" wins over "@Ana".
      let body = text;
      for (const [label, id] of [...this.mentionMap].sort((a, b) => b[0].length - a[0].length)) {
        body = body.split(label).join(`<@${id}>`);
      }
      box.disabled = true;
      try {
        const comment = await api.addComment(this.taskId, body);
        if (!this.comments.some((c) => c.id === comment.id)) this.comments.push(comment);
        this.renderComments();
        box.value = "";
        this.mentionMap.clear();
        clearTimeout(this.typingTimer);
        this.live.setPresence(this.board.projectId, this.taskId, "viewing");
      } catch (error) {
        toast(`Comment not posted: ${error.message}`, "error");
      } finally {
        box.disabled = false;
        box.focus();
      }
    });
    return form;
  }

  // --- checklists ----------------------------------------------------------------------

  scheduleChecklists() {
    clearTimeout(this.checklistTimer);
    this.checklistTimer = setTimeout(() => this.loadChecklists(), 100);
  }

  async loadChecklists() {
    try {
      this.checklists = (await api.checklists(this.taskId)).items;
    } catch (error) {
      toast(`Could not load the checklists: ${error.message}`, "error");
      return;
    }
    this.renderChecklists();
  }

  renderChecklists() {
    const el = this.checklistsEl;
    el.hidden = false;
    const ro = !this.canEdit;
    // A live re-render must not lose what someone is typing into an "add" box.
    const typed = new Map([...el.querySelectorAll(".inline-add input")].map((i) => [i.dataset.for, i.value]));
    const focused = el.contains(document.activeElement) ? document.activeElement.dataset.for : null;
    clear(el).append(h("h3", {}, "Checklists"));
    for (const list of this.checklists) {
      const done = list.items.filter((i) => i.done).length;
      const items = h("ul", { class: "checklist-items" }, list.items.map((item) => {
        const box = h("input", { type: "checkbox", disabled: ro, "aria-label": item.text });
        box.checked = item.done;
        box.addEventListener("change", async () => {
          try {
            await api.patchChecklistItem(item.id, { done: box.checked });
          } catch (error) {
            box.checked = !box.checked;
            toast(`Not saved: ${error.message}`, "error");
          }
        });
        return h("li", { class: item.done ? "done" : "", dataset: { id: item.id } }, h("label", {}, box, " ", item.text));
      }));
      const add = ro ? null : this.inlineAdd("Add an item", list.id, (text) => api.addChecklistItem(list.id, text));
      el.append(h("div", { class: "checklist", dataset: { id: list.id } },
        h("div", { class: "checklist-head" }, h("strong", {}, list.title), h("span", { class: "muted" }, `${done}/${list.items.length}`)),
        h("progress", { max: String(list.items.length || 1), value: String(done) }),
        items, add));
    }
    if (!ro) el.append(this.inlineAdd("New checklist", "new", (title) => api.addChecklist(this.taskId, title)));
    for (const input of el.querySelectorAll(".inline-add input")) {
      input.value = typed.get(input.dataset.for) || "";
      if (input.dataset.for === focused) input.focus();
    }
  }

  inlineAdd(placeholder, key, create) {
    const input = h("input", { type: "text", placeholder, "aria-label": placeholder, maxlength: "255", dataset: { for: key } });
    const form = h("form", { class: "inline-add" }, input, h("button", { type: "submit", class: "small" }, "Add"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = ""; // now, not after the answer: a live re-render may come first
      try {
        await create(text);
        this.scheduleChecklists();
      } catch (error) {
        const current = this.checklistsEl.querySelector(`.inline-add input[data-for="${input.dataset.for}"]`);
        if (current && !current.value) current.value = text;
        toast(`Not added: ${error.message}`, "error");
      }
    });
    return form;
  }

  // --- activity ------------------------------------------------------------------------

  async loadActivity() {
    try {
      this.activity = (await api.activity(this.taskId)).items;
    } catch (error) {
      toast(`Could not load the activity: ${error.message}`, "error");
      return;
    }
    this.renderActivity();
  }

  renderActivity() {
    const names = new Map(this.people.map((p) => [p.id, p.display_name || p.email]));
    const el = this.activityEl;
    el.hidden = false;
    clear(el).append(h("h3", {}, "Activity"), h("ol", { class: "activity-list" }, this.activity.slice(0, 50).map((e) => {
      let verb = VERBS[e.type] || e.type.replaceAll("_", " ");
      if (e.type === "task_moved") verb = `moved this task to ${e.data.task.status.name}`;
      return h("li", {}, h("strong", {}, names.get(e.actor_id) || "Someone"), ` ${verb} · `,
        h("time", { datetime: e.ts }, timeAgo(e.ts)));
    })));
  }
}

