// The page: who is logged in, the live stream, the bell, and a small router over three
// views: "/" (workspaces and projects), "/p/<project>/" (a board) and
// "/p/<project>/t/<task>/" (a board with a card open).

import { api } from "./api.js";
import { BoardView } from "./board.js";
import { Bell } from "./bell.js";
import { clear, h, toast } from "./dom.js";
import { HomeView } from "./home.js";
import { LiveStream } from "./live.js";
import { CardPanel } from "./panel.js";

const view = document.getElementById("view");
const panelRoot = document.getElementById("panel");
const crumbs = document.getElementById("crumbs");
const liveState = document.getElementById("live-state");

let current = null; // {kind, projectId, view}
let panel = null;
let me = null;

const live = new LiveStream({
  onState: (state) => {
    liveState.dataset.state = state;
    liveState.textContent = { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" }[state];
  },
});

// For a look from the devtools console (and the browser tests): the page's live stream.
window.taskhub = { live };

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  route();
}

function parse(pathname) {
  const board = pathname.match(/^\/p\/([0-9a-f-]{36})\/(?:t\/([0-9a-f-]{36})\/)?$/i);
  if (board) return { kind: "board", projectId: board[1].toLowerCase(), taskId: board[2]?.toLowerCase() || null };
  return { kind: "home" };
}

function setCrumbs(parts) {
  clear(crumbs).append(...parts.flatMap((part, i) => [
    i ? h("span", { class: "sep", "aria-hidden": "true" }, "/") : null,
    part.href ? h("a", { href: part.href, "data-link": true }, part.label) : h("span", {}, part.label),
  ].filter(Boolean)));
}

function notFound() {
  closePanel();
  current?.view?.destroy?.();
  current = { kind: "missing" };
  document.title = "Not found · TaskHub";
  setCrumbs([]);
  clear(view).append(h("section", { class: "not-found" },
    h("h1", {}, "Not found"),
    h("p", {}, "This board does not exist, or you do not have access to it."),
    h("a", { href: "/", "data-link": true, class: "button primary" }, "Back to your projects")));
}

function closePanel() {
  if (panel) { panel.close(); panel = null; }
}

async function route() {
  const where = parse(location.pathname);
  try {
    if (where.kind === "home") {
      closePanel();
      if (current?.kind !== "home") {
        current?.view?.destroy?.();
        const home = new HomeView({ root: view, live, me, navigate });
        current = { kind: "home", view: home };
        delete view.dataset.ready;
        document.title = "Projects · TaskHub";
        setCrumbs([{ label: "Projects" }]);
        clear(view).append(h("p", { class: "muted loading" }, "Loading…"));
        await home.load();
        view.dataset.ready = "home";
      }
      return;
    }
    if (current?.kind !== "board" || current.projectId !== where.projectId) {
      closePanel();
      current?.view?.destroy?.();
      const perColumn = Number(new URLSearchParams(location.search).get("per_column")) || undefined;
      const board = new BoardView({
        root: view, live, me, projectId: where.projectId, perColumn,
        onOpenTask: (taskId) => navigate(`/p/${where.projectId}/t/${taskId}/`),
        onNotFound: notFound,
        onProject: (project, workspace) => {
          document.title = `${project.key} · ${project.name} · TaskHub`;
          setCrumbs([{ label: "Projects", href: "/" }, { label: workspace?.name || "Workspace" }, { label: project.name }]);
        },
      });
      current = { kind: "board", projectId: where.projectId, view: board };
      delete view.dataset.ready;
      clear(view).append(h("p", { class: "muted loading" }, "Loading board…"));
      const shown = await board.load();
      if (!shown || current?.view !== board) return;
      view.dataset.ready = "board";
    }
    const board = current.view;
    if (where.taskId && panel?.taskId !== where.taskId) {
      closePanel();
      panel = new CardPanel({ root: panelRoot, board, live, me, taskId: where.taskId,
        onClose: () => navigate(`/p/${where.projectId}/`) });
      await panel.open();
    } else if (!where.taskId) {
      closePanel();
    }
  } catch (error) {
    toast(`Something went wrong: ${error.message}`, "error");
    throw error;
  }
}

document.addEventListener("click", (e) => {
  const link = e.target.closest?.("a[data-link]");
  if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);

async function start() {
  me = await api.me();
  document.getElementById("me").textContent = me.display_name || me.email;
  const bell = new Bell({
    root: document.getElementById("bell"), live,
    onOpen: (n) => {
      if (n.project_id && n.task) navigate(`/p/${n.project_id}/t/${n.task.id}/`);
      else navigate("/");
    },
  });
  await Promise.all([bell.start(), route()]);
  document.body.dataset.ready = "1"; // the first view and the bell have loaded
}

start();
