// The live stream: one WebSocket to /ws/ for the whole page (docs/websocket.md).
//
// It keeps, for each stream (a project's events, the user's notifications), the last seq
// the page has processed, and:
// - drops a frame at or below it (a replay overlapping what the page already has);
// - treats a later seq than the next one, or a heartbeat beyond what it processed, as
//   something lost on the page's side, and asks the stream's owner to resync;
// - reconnects on its own with a growing back-off (0.5 s doubling to 10 s, with jitter) and
//   subscribes again with `since` = that seq, so the server replays exactly what was missed.
// A socket that shows no frame in answer to a ping within a few seconds is treated as dead:
// a network that went away may leave it open for minutes.

const PING_EVERY_MS = 10000;
const PONG_WAIT_MS = 4000;

export class LiveStream {
  constructor({ onState } = {}) {
    this.projects = new Map(); // project_id -> {since, handlers, subscribed}
    this.notifications = null; // {since, handlers}
    this.workspaces = new Map(); // workspace_id -> handlers
    this.onState = onState || (() => {});
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.presence = new Map(); // project_id -> {task_id, state}
    this.presenceSupported = true;
    this.stopped = false;
    this.connect();
    // The browser knows first when the network goes: drop the socket then (it would only
    // time out), and try again as soon as the network is back.
    window.addEventListener("offline", () => this.abandon());
    window.addEventListener("online", () => { if (!this.socket) this.reconnectSoon(0); });
  }

  // --- subscriptions -------------------------------------------------------------------

  watchProject(projectId, since, handlers) {
    this.projects.set(projectId, { since, handlers });
    this.send({ type: "subscribe", project_id: projectId, since });
  }

  // After a reload of the board: start again from its as_of_seq (the server restarts the
  // subscription; anything at or below `since` still in flight is dropped here).
  resubscribe(projectId, since) {
    const entry = this.projects.get(projectId);
    if (!entry) return;
    entry.since = since;
    this.send({ type: "subscribe", project_id: projectId, since });
  }

  unwatchProject(projectId) {
    if (this.projects.delete(projectId)) this.send({ type: "unsubscribe", project_id: projectId });
    this.presence.delete(projectId);
  }

  lastSeq(projectId) {
    return this.projects.get(projectId)?.since ?? null;
  }

  watchNotifications(since, handlers) {
    this.notifications = { since, handlers };
    this.send({ type: "subscribe", notifications: true, since });
  }

  watchWorkspace(workspaceId, handlers) {
    this.workspaces.set(workspaceId, handlers);
    this.send({ type: "subscribe", workspace_id: workspaceId });
  }

  unwatchWorkspaces() {
    for (const id of this.workspaces.keys()) this.send({ type: "unsubscribe", workspace_id: id });
    this.workspaces.clear();
  }

  // Presence (ephemeral): what this page is doing in a project; renewed every ping, and sent
  // again after a reconnect.
  setPresence(projectId, taskId, state) {
    if (!this.presenceSupported) return;
    const current = this.presence.get(projectId);
    if (current && current.task_id === taskId && current.state === state) return;
    this.presence.set(projectId, { task_id: taskId, state });
    this.send({ type: "presence", project_id: projectId, task_id: taskId, state });
  }

  // --- the socket ----------------------------------------------------------------------

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    this.socket = socket;
    this.onState("connecting");
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.onState("live");
      // The server replays every event after each `since`, so nothing is lost or doubled.
      for (const [projectId, entry] of this.projects) {
        this.send({ type: "subscribe", project_id: projectId, since: entry.since });
      }
      if (this.notifications) this.send({ type: "subscribe", notifications: true, since: this.notifications.since });
      for (const id of this.workspaces.keys()) this.send({ type: "subscribe", workspace_id: id });
      this.renewPresence();
      this.startPings();
    };
    socket.onmessage = (message) => {
      if (socket !== this.socket) return;
      this.lastFrameAt = Date.now();
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      this.dispatch(frame);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.stopPings();
      if (event.code === 4401) {
        window.location.assign("/login/?next=" + encodeURIComponent(location.pathname));
        return;
      }
      this.reconnectSoon();
    };
  }

  reconnectSoon(delay) {
    if (this.stopped) return;
    this.onState("offline");
    clearTimeout(this.timer);
    if (!navigator.onLine) return; // the "online" event reconnects
    const wait = delay ?? Math.min(10000, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), wait);
  }

  // Drop the current socket at once (it looks dead) and reconnect.
  abandon() {
    const socket = this.socket;
    this.socket = null;
    this.stopPings();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      try { socket.close(); } catch { /* already closing */ }
    }
    this.reconnectSoon();
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      const sentAt = Date.now();
      this.send({ type: "ping" });
      this.renewPresence();
      this.pongTimer = setTimeout(() => {
        if ((this.lastFrameAt || 0) < sentAt) this.abandon();
      }, PONG_WAIT_MS);
    }, PING_EVERY_MS);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  renewPresence() {
    if (!this.presenceSupported) return;
    for (const [projectId, entry] of this.presence) {
      this.send({ type: "presence", project_id: projectId, ...entry });
    }
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  // --- inbound frames ------------------------------------------------------------------

  dispatch(frame) {
    const type = frame.type;
    if (type === "pong" || type === "unsubscribed") return;
    if (type === "error") {
      if (frame.code === "unknown_type" && String(frame.detail || "").includes("presence")) {
        this.presenceSupported = false; // a server without presence: stop announcing
      } else if (frame.code === "not_found" && frame.project_id) {
        this.projects.get(frame.project_id)?.handlers.onGone?.();
      }
      return;
    }
    if (type === "access_revoked") {
      const projectId = frame.data?.project_id;
      if (projectId) this.projects.get(projectId)?.handlers.onGone?.();
      return;
    }
    if (type === "notification" || (frame.notifications === true && type !== "presence")) {
      this.dispatchNotifications(frame);
      return;
    }
    if (type === "notifications_read") {
      this.notifications?.handlers.onRead?.(frame.data);
      return;
    }
    if (type === "presence") {
      this.projects.get(frame.project_id)?.handlers.onPresence?.(frame.data.users);
      return;
    }
    if (frame.seq === null || frame.seq === undefined) {
      // Workspace-level, best effort (no seq): the project list reloads itself.
      if (frame.workspace_id && type !== "subscribed") this.workspaces.get(frame.workspace_id)?.onEvent?.(frame);
      return;
    }
    const entry = this.projects.get(frame.project_id);
    if (!entry) {
      if (frame.workspace_id) this.workspaces.get(frame.workspace_id)?.onEvent?.(frame);
      return;
    }
    if (type === "resync_required") {
      entry.handlers.onResync?.();
      return;
    }
    if (type === "subscribed") {
      entry.handlers.onSubscribed?.(frame.seq);
      return;
    }
    if (type === "heartbeat") {
      // Everything up to frame.seq has been sent: if the page is behind, it lost something.
      if (entry.since !== null && frame.seq > entry.since) entry.handlers.onResync?.();
      return;
    }
    if (entry.since !== null && frame.seq <= entry.since) return; // already applied
    if (entry.since !== null && frame.seq > entry.since + 1) {
      entry.handlers.onResync?.();
      return;
    }
    entry.since = frame.seq;
    entry.handlers.onEvent(frame);
    if (frame.workspace_id) this.workspaces.get(frame.workspace_id)?.onEvent?.(frame);
  }

  dispatchNotifications(frame) {
    const stream = this.notifications;
    if (!stream) return;
    if (frame.type === "subscribed") return;
    if (frame.type === "heartbeat") {
      // Behind the server: count again over REST, and go on from there.
      if (stream.since !== null && frame.seq > stream.since) {
        stream.since = frame.seq;
        stream.handlers.onResync?.(frame.seq);
      }
      return;
    }
    if (frame.type !== "notification") return;
    // Notifications may skip a seq (a deleted one is not replayed), so only order matters.
    if (stream.since !== null && frame.seq <= stream.since) return;
    stream.since = frame.seq;
    stream.handlers.onNotification(frame.data);
  }
}
