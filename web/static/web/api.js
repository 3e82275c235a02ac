// The REST client: every call the page makes to /api/v1 goes through request().
//
// - Session auth: the browser sends the session cookie; unsafe methods add Django's CSRF token
//   (the csrftoken cookie, sent back as X-CSRFToken).
// - Every write carries an X-Request-ID of our own, so the live stream can tell our own
//   change's echo from someone else's (docs/websocket.md, "Matching your own writes").
// - Errors come back as ApiError with the status and the API's {detail, code} body.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body.detail === "string" ? body.detail
      : Array.isArray(body?.detail) ? body.detail.map((d) => d.msg).join("; ")
      : `Request failed (${status}).`;
    super(detail);
    this.status = status;
    this.body = body;
    this.code = body?.code;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

// A request id: 1-128 characters of A-Z a-z 0-9 . _ : - (the server echoes it in the events).
export function newRequestId() {
  const random = crypto.getRandomValues(new Uint32Array(3));
  return "web-" + Array.from(random, (n) => n.toString(36)).join("");
}

export async function request(method, path, { body, query, ifMatch, requestId } = {}) {
  let url = BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.append(key, value);
    }
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    headers["X-CSRFToken"] = cookie("csrftoken");
    headers["X-Request-ID"] = requestId || newRequestId();
  }
  if (ifMatch !== undefined && ifMatch !== null) headers["If-Match"] = `"${ifMatch}"`;
  const response = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    // The session ended (logged out in another tab, expired): back to the login page.
    window.location.assign("/login/?next=" + encodeURIComponent(location.pathname));
    throw new ApiError(401, { detail: "Not logged in.", code: "not_authenticated" });
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const get = (path, query) => request("GET", path, { query });

// Every page of a keyset-paginated list (for short lists: workspaces, members).
export async function all(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...query, limit: 200, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export const api = {
  me: () => get("/auth/me"),
  register: (body) => request("POST", "/auth/register", { body }),

  workspaces: () => all("/workspaces"),
  workspace: (id) => get(`/workspaces/${id}`),
  projects: (workspaceId) => all(`/workspaces/${workspaceId}/projects`),
  createProject: (workspaceId, body) => request("POST", `/workspaces/${workspaceId}/projects`, { body }),
  invitations: () => all("/me/invitations"),
  acceptInvitation: (id) => request("POST", `/invitations/${id}/accept`),
  declineInvitation: (id) => request("POST", `/invitations/${id}/decline`),

  board: (projectId, perColumn = 50) => get(`/projects/${projectId}/board`, { per_column: perColumn }),
  // A column's next page, or a filtered column: GET /projects/{id}/tasks?status=...
  tasks: (projectId, query) => get(`/projects/${projectId}/tasks`, query),
  task: (taskId) => get(`/tasks/${taskId}`),
  createTask: (projectId, body, requestId) => request("POST", `/projects/${projectId}/tasks`, { body, requestId }),
  patchTask: (taskId, body, version, requestId) =>
    request("PATCH", `/tasks/${taskId}`, { body, ifMatch: version, requestId }),
  moveTask: (taskId, body, requestId) => request("POST", `/tasks/${taskId}/move`, { body, requestId }),

  comments: (taskId) => all(`/tasks/${taskId}/comments`),
  addComment: (taskId, body) => request("POST", `/tasks/${taskId}/comments`, { body: { body } }),

  checklists: (taskId) => get(`/tasks/${taskId}/checklists`),
  addChecklist: (taskId, title) => request("POST", `/tasks/${taskId}/checklists`, { body: { title } }),
  addChecklistItem: (checklistId, text) => request("POST", `/checklists/${checklistId}/items`, { body: { text } }),
  patchChecklistItem: (itemId, body) => request("PATCH", `/checklist-items/${itemId}`, { body }),
  activity: (taskId, cursor) => get(`/tasks/${taskId}/activity`, { cursor }),

  notifications: (query) => get("/notifications", query),
  notificationCount: () => get("/notifications/count"),
  readNotification: (id) => request("POST", `/notifications/${id}/read`),
  readAllNotifications: (upToSeq) => request("POST", "/notifications/read-all", { body: upToSeq ? { up_to_seq: upToSeq } : {} }),
};
