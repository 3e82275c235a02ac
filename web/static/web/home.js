// The home view: pending invitations, then each workspace with its projects (counts and
// status), and a form to create a project. Project-level changes arrive over the workspace
// subscription (best effort, no seq), so a change reloads that workspace's list.

import { api } from "./api.js";
import { clear, h, toast } from "./dom.js";

const GROUPS = ["todo", "active", "review", "issue", "done"];
const GROUP_LABEL = { todo: "To do", active: "In progress", review: "In review", issue: "Issue", done: "Done" };

export class HomeView {
  constructor({ root, live, me, navigate }) {
    Object.assign(this, { root, live, me, navigate });
    this.reloadTimers = new Map();
  }

  async load() {
    const [workspaces, invitations] = await Promise.all([api.workspaces(), api.invitations()]);
    this.invitations = invitations;
    this.workspaces = workspaces;
    const lists = await Promise.all(workspaces.map((w) => api.projects(w.id)));
    this.projects = new Map(workspaces.map((w, i) => [w.id, lists[i]]));
    this.render();
    for (const w of workspaces) this.live.watchWorkspace(w.id, { onEvent: () => this.scheduleReload(w.id) });
  }

  destroy() {
    this.live.unwatchWorkspaces();
    for (const timer of this.reloadTimers.values()) clearTimeout(timer);
  }

  scheduleReload(workspaceId) {
    clearTimeout(this.reloadTimers.get(workspaceId));
    this.reloadTimers.set(workspaceId, setTimeout(async () => {
      try {
        this.projects.set(workspaceId, await api.projects(workspaceId));
        this.renderWorkspace(this.workspaces.find((w) => w.id === workspaceId));
      } catch { /* removed from it meanwhile: the next load shows that */ }
    }, 200));
  }

  render() {
    clear(this.root).append(
      this.invitesEl = h("section", { class: "invitations" }),
      this.listEl = h("div", { class: "workspaces" }));
    this.renderInvitations();
    for (const w of this.workspaces) this.renderWorkspace(w);
    if (!this.workspaces.length) {
      this.listEl.append(h("p", { class: "muted empty-note" }, "You are not in any workspace yet. An invitation will show up here."));
    }
  }

  renderInvitations() {
    clear(this.invitesEl);
    this.invitesEl.hidden = this.invitations.length === 0;
    if (!this.invitations.length) return;
    this.invitesEl.append(h("h2", {}, "Invitations"), h("ul", {}, this.invitations.map((inv) => h("li", { class: "invitation", dataset: { id: inv.id } },
      h("span", {}, h("strong", {}, inv.invited_by?.display_name || "Someone"), " invited you to ",
        h("strong", {}, inv.workspace.name), ` as ${inv.role}`),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "primary small", onclick: () => this.answer(inv, true) }, "Accept"),
      h("button", { type: "button", class: "small", onclick: () => this.answer(inv, false) }, "Decline")))));
  }

  async answer(invitation, accept) {
    try {
      if (accept) await api.acceptInvitation(invitation.id);
      else await api.declineInvitation(invitation.id);
      toast(accept ? `You joined ${invitation.workspace.name}.` : "Invitation declined.");
      this.live.unwatchWorkspaces();
      await this.load();
    } catch (error) {
      toast(error.message, "error");
      await this.load();
    }
  }

  renderWorkspace(workspace) {
    if (!workspace) return;
    const projects = this.projects.get(workspace.id) || [];
    const canCreate = workspace.role === "owner" || workspace.role === "editor";
    const section = h("section", { class: "workspace", dataset: { id: workspace.id } },
      h("header", { class: "workspace-head" },
        h("h2", {}, workspace.name),
        h("span", { class: "badge" }, workspace.role),
        h("span", { class: "muted" }, `${projects.length} project${projects.length === 1 ? "" : "s"}`)),
      h("ul", { class: "project-grid" },
        projects.map((p) => this.projectCard(p)),
        canCreate ? h("li", { class: "project-new" }, this.createForm(workspace)) : null));
    const old = this.listEl.querySelector(`.workspace[data-id="${workspace.id}"]`);
    if (old) old.replaceWith(section);
    else this.listEl.append(section);
  }

  projectCard(p) {
    const c = p.counts;
    const total = c.total || 0;
    return h("li", { class: "project-card" },
      h("a", { href: `/p/${p.id}/`, "data-link": true, class: "project-link" },
        h("div", { class: "project-top" },
          h("span", { class: "project-key" }, p.key),
          h("span", { class: `status-badge status-${p.status}` }, p.status)),
        h("div", { class: "project-name" }, p.name),
        h("div", { class: "bar", "aria-hidden": "true" },
          GROUPS.map((g) => (c[g] ? h("span", { class: `bar-${g}`, style: `flex: ${c[g]}` }) : null))),
        h("div", { class: "project-counts" },
          h("span", {}, `${total} task${total === 1 ? "" : "s"}`),
          GROUPS.filter((g) => c[g]).map((g) => h("span", { class: `count-${g}`, title: GROUP_LABEL[g] }, `${c[g]} ${GROUP_LABEL[g].toLowerCase()}`)))));
  }

  createForm(workspace) {
    const name = h("input", { type: "text", name: "name", placeholder: "Project name", required: true, maxlength: "200", "aria-label": "Project name" });
    const key = h("input", { type: "text", name: "key", placeholder: "KEY", required: true, maxlength: "10", pattern: "[A-Z][A-Z0-9]{1,9}",
      title: "2-10 capital letters or digits, starting with a letter", "aria-label": "Project key", class: "key-input" });
    let keyTouched = false;
    key.addEventListener("input", () => { keyTouched = true; key.value = key.value.toUpperCase(); });
    name.addEventListener("input", () => {
      if (!keyTouched) key.value = name.value.toUpperCase().replace(/[^A-Z0-9]/g, "").replace(/^[0-9]+/, "").slice(0, 4);
    });
    const form = h("form", { class: "create-project" }, h("strong", {}, "New project"), name, key,
      h("button", { type: "submit", class: "primary small" }, "Create"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const project = await api.createProject(workspace.id, { name: name.value.trim(), key: key.value.trim() });
        this.navigate(`/p/${project.id}/`);
      } catch (error) {
        toast(`Project not created: ${error.message}`, "error");
      }
    });
    return form;
  }
}
