// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so a task title
// or a comment cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function initials(name) {
  const words = (name || "?").trim().split(/\s+/).filter(Boolean);
  return ((words[0]?.[0] || "?") + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
}

// A stable colour per user id, for avatars.
export function hue(id) {
  let n = 0;
  for (const c of String(id)) n = (n * 31 + c.charCodeAt(0)) % 360;
  return n;
}

export function avatar(user, extraClass = "") {
  if (!user) return null;
  return h("span", {
    class: `avatar ${extraClass}`.trim(), title: user.display_name || user.email,
    style: `--hue: ${hue(user.id)}`, "aria-label": user.display_name || user.email,
  }, initials(user.display_name || user.email));
}

export function formatDate(iso) {
  if (!iso) return "";
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

export function timeAgo(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

// A comment body with <@USER_ID> shown as @Name (from the comment's mentions, or the members).
export function renderMentions(body, people) {
  const names = new Map(people.map((p) => [p.id, p.display_name]));
  const parts = [];
  let last = 0;
  for (const match of body.matchAll(/<@([0-9a-fA-F-]{36})>/g)) {
    parts.push(body.slice(last, match.index));
    const name = names.get(match[1].toLowerCase());
    parts.push(name ? h("span", { class: "mention" }, "@" + name) : match[0]);
    last = match.index + match[0].length;
  }
  parts.push(body.slice(last));
  return parts;
}
