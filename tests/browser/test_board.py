"""The board in the browser (web/): two people at once, live, in headless Chromium.

Every test logs real people in through the login page and drives the page as they would;
the data they start from is made through the public REST API with bearer tokens, as another
client would. Each test works on a project of its own, so the tests do not see each other's
cards. A page that logs a console error, an uncaught exception or an unexpected 4xx/5xx
fails its test (``Problems`` in conftest); a test that provokes one says so with
``problems.expect``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.conftest import Problems
from tests.browser.site import DEMO_EMAIL, DEMO_PASSWORD

LIVE = 2000  # ms: how soon another person's change must show without a reload
PASSWORD = "browser-test-pass-2026"
TEAMMATE_EMAIL = "ana@taskhub.local"  # seed_demo's teammate, an editor of the demo workspace


class Api:
    """A bearer-token client of the public REST API, for setting up what the browsers see."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    @classmethod
    def login(cls, base: str, email: str, password: str) -> Api:
        body = call(base, "POST", "/auth/token", {"email": email, "password": password})
        return cls(base, body["token"])

    def __call__(self, method: str, path: str, body: dict | None = None, **headers):
        return call(self.base, method, path, body, Authorization=f"Bearer {self.token}", **headers)


def call(base: str, method: str, path: str, body: dict | None = None, **headers):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            raw = reply.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None


@dataclass
class Person:
    email: str
    password: str
    api: Api
    id: str
    name: str


@pytest.fixture(scope="module")
def people(site):
    """The demo user (owner) and Ana (editor), as seed_demo makes them, and the demo workspace."""
    owner = Api.login(site.base, DEMO_EMAIL, DEMO_PASSWORD)
    ana = Api.login(site.base, TEAMMATE_EMAIL, DEMO_PASSWORD)
    me, her = owner("GET", "/auth/me"), ana("GET", "/auth/me")
    workspace = next(w for w in owner("GET", "/workspaces")["items"] if w["name"] == "Demo workspace")
    return {
        "a": Person(DEMO_EMAIL, DEMO_PASSWORD, owner, me["id"], me["display_name"]),
        "b": Person(TEAMMATE_EMAIL, DEMO_PASSWORD, ana, her["id"], her["display_name"]),
        "workspace": workspace["id"],
    }


def new_project(people, name: str = "Browser board") -> dict:
    """A fresh project of the demo workspace with Ana as a member; returns it with its columns."""
    owner = people["a"].api
    key = "B" + uuid.uuid4().hex[:6].upper()
    project = owner("POST", f"/workspaces/{people['workspace']}/projects", {"name": name, "key": key})
    owner("POST", f"/projects/{project['id']}/members", {"user_id": people["b"].id, "role": "member"})
    statuses = owner("GET", f"/projects/{project['id']}/statuses")["items"]
    project["columns"] = {s["group"]: s["id"] for s in statuses}
    return project


def register(site, label: str) -> Person:
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
    user = call(site.base, "POST", "/auth/register",
                {"email": email, "password": PASSWORD, "display_name": label.title()})
    return Person(email, PASSWORD, Api.login(site.base, email, PASSWORD), user["id"], user["display_name"])


def open_page(browser, *, width: int = 1280, height: int = 800):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.problems = Problems()
    page.problems.watch(page)
    return context, page


def log_in(page, site, person: Person) -> None:
    page.goto(f"{site.base}/login/")
    page.fill("#id_username", person.email)
    page.fill("#id_password", person.password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{site.base}/")
    page.wait_for_selector("body[data-ready]")


def open_board(page, site, project_id: str) -> None:
    page.goto(f"{site.base}/p/{project_id}/")
    page.wait_for_selector("body[data-ready] #view[data-ready=board]")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")


def column(page, project: dict, group: str):
    return page.locator(f'section.column[data-column="{project["columns"][group]}"]')


def card(scope, title: str):
    """The card titled ``title`` in a page or a column (the inner locator is relative to each card)."""
    page = getattr(scope, "page", scope)
    return scope.locator(".card").filter(has=page.locator(".card-title", has_text=title))


@pytest.fixture
def two(browser, site, people):
    """A (the demo user) and B (Ana) each in a browser context of their own, both logged in."""
    opened = []

    def make(person_key: str, **size):
        context, page = open_page(browser, **size)
        opened.append((context, page))
        log_in(page, site, people[person_key])
        return page

    yield make
    problems = []
    for context, page in opened:
        problems += page.problems.items
        context.close()
    assert problems == [], "\n".join(problems)


def test_a_creates_and_drags_a_task_and_b_sees_both_live(site, people, two):
    project = new_project(people)
    a, b = two("a"), two("b")
    open_board(a, site, project["id"])
    open_board(b, site, project["id"])
    b.evaluate("window.notReloaded = true")

    todo_a = column(a, project, "todo")
    todo_a.locator(".add-open").click()
    todo_a.locator(".add-input").fill("Ship the browser client")
    todo_a.locator(".add-input").press("Enter")
    expect(card(todo_a, "Ship the browser client")).to_have_count(1)

    todo_b = column(b, project, "todo")
    expect(card(todo_b, "Ship the browser client")).to_have_count(1, timeout=LIVE)
    expect(todo_b.locator(".count")).to_have_text("1", timeout=LIVE)
    expect(card(b, "Ship the browser client").locator(".card-key")).to_have_text(f"{project['key']}-1")

    # Native HTML drag and drop, to the In Progress column.
    active_a = column(a, project, "active")
    card(a, "Ship the browser client").drag_to(active_a.locator(".cards"))
    expect(card(active_a, "Ship the browser client")).to_have_count(1)

    active_b = column(b, project, "active")
    expect(card(active_b, "Ship the browser client")).to_have_count(1, timeout=LIVE)
    expect(card(todo_b, "Ship the browser client")).to_have_count(0)
    expect(todo_b.locator(".count")).to_have_text("0")
    expect(active_b.locator(".count")).to_have_text("1")
    assert b.evaluate("window.notReloaded") is True
    # A's optimistic card was confirmed by the response and the echo, never doubled.
    expect(a.locator(".card")).to_have_count(1)
    task = people["a"].api("GET", f"/projects/{project['id']}/tasks")["items"][0]
    assert task["status"]["id"] == project["columns"]["active"]


def test_a_card_moves_within_its_column_by_drag_and_by_keyboard(site, people, two):
    project = new_project(people)
    owner = people["a"].api
    for title in ("First", "Second", "Third"):
        owner("POST", f"/projects/{project['id']}/tasks", {"title": title})
    a, b = two("a"), two("b")
    open_board(a, site, project["id"])
    open_board(b, site, project["id"])
    titles = lambda page: column(page, project, "todo").locator(".card-title").all_inner_texts()  # noqa: E731
    assert titles(a) == ["First", "Second", "Third"]

    card(a, "Third").drag_to(card(a, "First"), target_position={"x": 20, "y": 5})
    expect(column(a, project, "todo").locator(".card-title")).to_have_text(["Third", "First", "Second"])
    expect(column(b, project, "todo").locator(".card-title")).to_have_text(["Third", "First", "Second"], timeout=LIVE)

    # Keyboard: Shift+Down moves the focused card down, Shift+Right to the next column.
    card(a, "Third").focus()
    a.keyboard.press("Shift+ArrowDown")
    expect(column(a, project, "todo").locator(".card-title")).to_have_text(["First", "Third", "Second"])
    expect(column(b, project, "todo").locator(".card-title")).to_have_text(["First", "Third", "Second"], timeout=LIVE)
    expect(card(a, "Third")).to_be_focused()
    a.keyboard.press("Shift+ArrowRight")
    expect(card(column(a, project, "active"), "Third")).to_have_count(1)
    expect(card(column(b, project, "active"), "Third")).to_have_count(1, timeout=LIVE)
    expect(a.locator(".sr-only")).to_contain_text("moved to In Progress")
    todo = owner("GET", f"/projects/{project['id']}/tasks?status={project['columns']['todo']}")["items"]
    ranked = [t["title"] for t in todo]
    assert ranked == ["First", "Second"]


def test_b_mentions_a_and_a_sees_the_bell_and_the_comment(site, people, two):
    project = new_project(people)
    task = people["a"].api("POST", f"/projects/{project['id']}/tasks", {"title": "Pick the launch date"})
    a, b = two("a"), two("b")
    open_board(a, site, project["id"])
    unread = people["a"].api("GET", "/notifications/count")["unread"]
    bell = a.locator(".bell-count")
    expect(bell).to_have_text(str(unread)) if unread else expect(bell).to_be_hidden()

    b.goto(f"{site.base}/p/{project['id']}/t/{task['id']}/")
    box = b.locator(".comment-input")
    box.click()
    box.type("Can you check this, @Dem")
    picker = b.locator(".mention-picker li")
    expect(picker).to_have_count(1)
    expect(picker).to_contain_text(people["a"].name)
    box.press("Enter")  # picks the highlighted person
    box.type("please?")
    b.locator(".composer button[type=submit]").click()
    expect(b.locator(".comment .mention")).to_have_text(f"@{people['a'].name}")

    expect(bell).to_have_text(str(unread + 1), timeout=LIVE)
    stored = people["a"].api("GET", f"/tasks/{task['id']}/comments")["items"]
    assert stored[0]["body"] == f"Can you check this, <@{people['a'].id}> please?"
    assert [m["id"] for m in stored[0]["mentions"]] == [people["a"].id]

    # A opens it from the bell: the notification leads to the card, whose panel shows the comment.
    a.locator(".bell-button").click()
    first = a.locator(".bell-list li.unread").first
    expect(first).to_contain_text(f"mentioned you in {task['key']}")
    first.locator("button").click()
    a.wait_for_url(f"{site.base}/p/{project['id']}/t/{task['id']}/")
    expect(a.locator(".panel .comment-body")).to_have_text(f"Can you check this, @{people['a'].name} please?")
    if unread:  # opening it marked it read
        expect(bell).to_have_text(str(unread), timeout=LIVE)
    else:
        expect(bell).to_be_hidden(timeout=LIVE)

    # A comment posted while A's panel is open arrives there live.
    b.locator(".comment-input").fill("One more thing")
    b.locator(".composer button[type=submit]").click()
    expect(a.locator(".panel .comment-body").nth(1)).to_have_text("One more thing", timeout=LIVE)


def test_a_conflicting_title_edit_tells_the_later_writer_and_both_boards_agree(site, people, two):
    project = new_project(people)
    task = people["a"].api("POST", f"/projects/{project['id']}/tasks", {"title": "Old title"})
    a, b = two("a"), two("b")
    b.problems.expect(412, f"/api/v1/tasks/{task['id']}")
    for page in (a, b):
        page.goto(f"{site.base}/p/{project['id']}/t/{task['id']}/")
        expect(page.locator(".field-title")).to_have_value("Old title")

    # B starts typing first, but A saves first.
    b.locator(".field-title").fill("B's title")
    a.locator(".field-title").fill("A's title")
    a.locator(".field-title").press("Enter")
    expect(card(b, "A's title")).to_have_count(1, timeout=LIVE)
    b.locator(".field-title").press("Enter")

    expect(b.locator(".conflict")).to_be_visible(timeout=LIVE)
    expect(b.locator(".conflict")).to_contain_text("Someone else changed this task first")
    expect(b.locator(".conflict")).to_contain_text("B's title")
    for page in (a, b):
        expect(page.locator(".field-title")).to_have_value("A's title")
        expect(page.locator(".card .card-title")).to_have_text(["A's title"])
    assert people["a"].api("GET", f"/tasks/{task['id']}")["title"] == "A's title"
    expect(a.locator(".conflict")).to_be_hidden()

    # Having seen the current version, B's next edit goes through, and A sees it.
    b.locator(".field-title").fill("Agreed title")
    b.locator(".field-title").press("Enter")
    expect(a.locator(".field-title")).to_have_value("Agreed title", timeout=LIVE)
    expect(card(a, "Agreed title")).to_have_count(1)


def test_b_offline_while_a_makes_three_changes_shows_all_three_once_in_order(site, people, two):
    project = new_project(people)
    owner = people["a"].api
    moving = owner("POST", f"/projects/{project['id']}/tasks", {"title": "Moves while B is away"})
    b = two("b")
    open_board(b, site, project["id"])
    b.evaluate("window.notReloaded = true")

    b.context.set_offline(True)
    expect(b.locator("#live-state")).to_have_attribute("data-state", "offline")
    owner("POST", f"/projects/{project['id']}/tasks", {"title": "Away one"})
    owner("POST", f"/tasks/{moving['id']}/move", {"status_id": project["columns"]["done"]})
    owner("POST", f"/projects/{project['id']}/tasks", {"title": "Away two"})
    time.sleep(0.5)  # nothing reaches B meanwhile
    expect(card(b, "Away one")).to_have_count(0)
    expect(card(column(b, project, "todo"), "Moves while B is away")).to_have_count(1)

    b.context.set_offline(False)
    expect(b.locator("#live-state")).to_have_attribute("data-state", "live", timeout=LIVE * 3)
    todo = column(b, project, "todo")
    expect(todo.locator(".card-title")).to_have_text(["Away one", "Away two"], timeout=LIVE)
    expect(column(b, project, "done").locator(".card-title")).to_have_text(["Moves while B is away"])
    expect(todo.locator(".count")).to_have_text("2")
    expect(column(b, project, "done").locator(".count")).to_have_text("1")
    expect(b.locator(".card")).to_have_count(3)
    assert b.evaluate("window.notReloaded") is True
    # Applied in seq order, once each: the board's stream position is the project's latest seq.
    latest = owner("GET", f"/projects/{project['id']}/events?since=0&limit=200")["latest_seq"]
    assert b.evaluate(f"window.taskhub.live.lastSeq('{project['id']}')") == latest


def test_a_viewer_sees_the_board_without_drag_handles_or_edit_controls(site, people, browser):
    project = new_project(people)
    people["a"].api("POST", f"/projects/{project['id']}/tasks", {"title": "Read me"})
    viewer = register(site, "viewer")
    people["a"].api("POST", f"/workspaces/{people['workspace']}/members", {"email": viewer.email, "role": "viewer"})
    context, page = open_page(browser)
    try:
        log_in(page, site, viewer)
        open_board(page, site, project["id"])
        expect(card(page, "Read me")).to_have_count(1)
        expect(page.locator(".board-title")).to_contain_text("read only")
        expect(page.locator(".drag-handle")).to_have_count(0)
        expect(page.locator('[draggable="true"]')).to_have_count(0)
        expect(page.locator(".add-open, .add-task")).to_have_count(0)
        card(page, "Read me").click()
        expect(page.locator(".field-title")).to_have_attribute("readonly", "")
        for control in page.locator(".panel select, .panel input[type=date], .panel input[type=number]").all():
            expect(control).to_be_disabled()
        expect(page.locator(".field-description")).to_have_attribute("readonly", "")
        # Viewers may comment (API.md's roles).
        expect(page.locator(".comment-input")).to_be_editable()
        assert page.problems.items == []
    finally:
        context.close()


def test_an_outsiders_direct_url_shows_a_not_found_page(site, people, browser):
    project = new_project(people)
    task = people["a"].api("POST", f"/projects/{project['id']}/tasks", {"title": "Secret"})
    outsider = register(site, "outsider")
    context, page = open_page(browser)
    try:
        log_in(page, site, outsider)
        page.problems.expect(404, f"/api/v1/projects/{project['id']}/board")
        for path in (f"/p/{project['id']}/", f"/p/{project['id']}/t/{task['id']}/"):
            page.goto(site.base + path)
            expect(page.locator(".not-found h1")).to_have_text("Not found")
            expect(page.locator(".card")).to_have_count(0)
            assert "Secret" not in page.content()
        assert page.problems.items == []
    finally:
        context.close()


def test_more_cards_load_on_scroll_and_the_filters_ask_the_server(site, people, two):
    project = new_project(people)
    owner = people["a"].api
    for n in range(1, 13):
        owner("POST", f"/projects/{project['id']}/tasks",
              {"title": f"Card {n:02d}", "assignee_id": people["b"].id if n % 3 == 0 else None})
    a = two("a", height=500)
    a.goto(f"{site.base}/p/{project['id']}/?per_column=4")
    a.wait_for_selector("#view[data-ready=board]")
    todo = column(a, project, "todo")
    expect(todo.locator(".count")).to_have_text("12")
    assert todo.locator(".card").count() < 12
    for _ in range(10):
        todo.locator(".sentinel").scroll_into_view_if_needed()
        if todo.locator(".card").count() == 12:
            break
        a.wait_for_timeout(150)
    expect(todo.locator(".card-title")).to_have_text([f"Card {n:02d}" for n in range(1, 13)])

    a.select_option("#filter-assignee", people["b"].id)
    expect(todo.locator(".card-title")).to_have_text(["Card 03", "Card 06", "Card 09", "Card 12"])
    a.select_option("#filter-assignee", "")
    a.fill("#filter-q", "card 1")
    expect(todo.locator(".card-title")).to_have_text(["Card 10", "Card 11", "Card 12"])
    a.fill("#filter-q", "")
    expect(todo.locator(".card")).to_have_count(4)


def test_log_in_register_accept_an_invitation_create_a_project_and_log_out(site, people, browser):
    context, page = open_page(browser)
    try:
        page.goto(f"{site.base}/")
        page.wait_for_url(f"{site.base}/login/?next=/")
        demo_prefilled = not settings.DATABASE_URL and not settings.REDIS_URL  # the site runs with DEBUG on
        expect(page.locator("#id_username")).to_have_value(DEMO_EMAIL if demo_prefilled else "")
        page.fill("#id_username", DEMO_EMAIL)
        page.fill("#id_password", "not the password")
        page.click("#login-form button[type=submit]")
        expect(page.locator(".form-error")).to_be_visible()

        # Sign-up is open on the demo site: a new account, invited by Ana beforehand.
        email = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"
        studio = people["b"].api("POST", "/workspaces", {"name": f"Studio {uuid.uuid4().hex[:4]}"})
        people["b"].api("POST", f"/workspaces/{studio['id']}/invitations", {"email": email, "role": "editor"})
        page.click("text=Create one")
        page.fill("#reg-name", "New Comer")
        page.fill("#reg-email", email)
        page.fill("#reg-password", PASSWORD)
        page.click("#register-form button[type=submit]")
        page.wait_for_url(f"{site.base}/")
        expect(page.locator("#me")).to_have_text("New Comer")
        invitation = page.locator(".invitation")
        expect(invitation).to_contain_text(studio["name"])
        invitation.locator("text=Accept").click()
        workspace = page.locator(".workspace", has=page.locator("h2", has_text=studio["name"]))
        expect(workspace.locator(".badge")).to_have_text("editor")
        expect(page.locator(".invitation")).to_have_count(0)

        workspace.locator("input[name=name]").fill("Garden shed")
        expect(workspace.locator("input[name=key]")).to_have_value("GARD")
        workspace.locator(".create-project button").click()
        page.wait_for_selector("#view[data-ready=board]")
        expect(page.locator(".board-title h1")).to_contain_text("Garden shed")
        expect(page.locator("section.column h2")).to_have_text(["Todo", "In Progress", "In Review", "Issue", "Done"])
        page.click("a.brand")
        card_link = page.locator(".project-card", has_text="Garden shed")
        expect(card_link).to_contain_text("0 tasks")

        page.click("text=Log out")
        page.wait_for_url(f"{site.base}/login/")
        page.goto(f"{site.base}/")
        page.wait_for_url(f"{site.base}/login/?next=/")
        assert page.problems.items == []
    finally:
        context.close()


@pytest.mark.parametrize(("label", "width", "height"), [("laptop", 1280, 800), ("phone", 390, 844)])
def test_the_board_at_laptop_and_phone_width(site, people, two, tmp_path, label, width, height):
    project = new_project(people, name="Website relaunch")
    owner = people["a"].api
    cards = [("Design the landing page", "done", "high"), ("Write the pricing copy", "review", "medium"),
             ("Cookie banner", "todo", "low"), ("Fix mobile menu", "issue", "highest"),
             ("Blog migration", "active", "medium"), ("Accessibility audit", "todo", "high")]
    for title, group, priority in cards:
        owner("POST", f"/projects/{project['id']}/tasks", {"title": title, "status_id": project["columns"][group],
                                                          "priority": priority, "assignee_id": people["b"].id,
                                                          "due_date": "2026-12-24"})
    page = two("a", width=width, height=height)
    open_board(page, site, project["id"])
    # Nothing wider than the screen but the columns' own scroller.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    first = column(page, project, "todo").bounding_box()
    assert first["x"] >= 0 and first["width"] <= width
    if label == "phone":
        assert first["width"] >= width * 0.75  # one column at a time, the next one peeking in
        done = column(page, project, "done")
        assert done.bounding_box()["x"] >= width  # off to the right
        page.locator(".column-tab", has_text="Done").click()
        page.wait_for_function(
            f"() => {{ const r = document.querySelector('section.column[data-column=\"{project['columns']['done']}\"]')"
            f".getBoundingClientRect(); return r.left >= 0 && r.right <= {width}; }}")
        page.locator(".column-tab", has_text="Todo").click()
        page.wait_for_function("() => document.querySelector('.columns').scrollLeft === 0")
    else:
        assert page.locator("section.column").evaluate_all(
            f"cols => cols.filter(c => c.getBoundingClientRect().right <= {width}).length") >= 4
    shot = tmp_path / f"board-{label}.png"
    page.screenshot(path=str(shot))
    card(page, "Cookie banner").click()
    expect(page.locator(".field-title")).to_have_value("Cookie banner")
    panel = page.locator("#panel").bounding_box()
    assert panel["x"] + panel["width"] <= width + 1
    page.screenshot(path=str(tmp_path / f"panel-{label}.png"))
    assert shot.stat().st_size > 10_000
    print(f"screenshots: {tmp_path}")


def test_a_ticks_a_checklist_item_and_b_sees_the_new_count_and_the_activity(site, people, two):
    project = new_project(people)
    owner = people["a"].api
    task = owner("POST", f"/projects/{project['id']}/tasks", {"title": "Prepare the release"})
    checklist = owner("POST", f"/tasks/{task['id']}/checklists", {"title": "Steps"})
    for text in ("Changelog", "Tag", "Announce"):
        owner("POST", f"/checklists/{checklist['id']}/items", {"text": text})
    a, b = two("a"), two("b")
    open_board(b, site, project["id"])
    expect(card(b, "Prepare the release").locator(".checklist-count")).to_have_text("☑ 0/3")

    a.goto(f"{site.base}/p/{project['id']}/t/{task['id']}/")
    items = a.locator(".checklist-items li")
    expect(items).to_have_count(3)
    items.nth(1).locator("input[type=checkbox]").check()
    expect(card(b, "Prepare the release").locator(".checklist-count")).to_have_text("☑ 1/3", timeout=LIVE)
    expect(card(a, "Prepare the release").locator(".checklist-count")).to_have_text("☑ 1/3", timeout=LIVE)
    item = owner("GET", f"/tasks/{task['id']}/checklists")["items"][0]["items"][1]
    assert item["done"] is True and item["done_by"]["id"] == people["a"].id

    # A new item from the panel; B's card counts it, and B's panel lists it with the activity.
    a.locator(".checklist .inline-add input").fill("Close the milestone")
    a.locator(".checklist .inline-add button").click()
    expect(card(b, "Prepare the release").locator(".checklist-count")).to_have_text("☑ 1/4", timeout=LIVE)
    card(b, "Prepare the release").click()
    expect(b.locator(".checklist-items li")).to_have_count(4)
    expect(b.locator(".checklist-items li.done")).to_have_text(["Tag"])
    expect(b.locator(".activity-list li").first).to_contain_text("added a checklist item")
    expect(b.locator(".activity-list")).to_contain_text("created this task")
    # A's tick, seen live in B's open panel.
    a.locator(".checklist-items li").nth(0).locator("input[type=checkbox]").check()
    expect(b.locator(".checklist-items li.done")).to_have_text(["Changelog", "Tag"], timeout=LIVE)
    expect(b.locator(".activity-list li").first).to_contain_text("updated a checklist item", timeout=LIVE)



def test_presence_on_the_board_and_the_card_and_typing_in_the_comment_box(site, people, two):
    project = new_project(people)
    task = people["a"].api("POST", f"/projects/{project['id']}/tasks", {"title": "Talk it over"})
    a, b = two("a"), two("b")
    open_board(a, site, project["id"])
    a.goto(f"{site.base}/p/{project['id']}/t/{task['id']}/")
    b.goto(f"{site.base}/p/{project['id']}/t/{task['id']}/")
    ana = people["b"].name
    expect(a.locator(f'.presence .avatar[title="{ana}"]')).to_have_count(1, timeout=LIVE)
    expect(a.locator(f'.panel-presence .avatar[title="{ana}"]')).to_have_count(1, timeout=LIVE)
    expect(card(a, "Talk it over").locator(f'.card-viewers .avatar[title="{ana}"]')).to_have_count(1)
    b.locator(".comment-input").type("Let me think")
    expect(a.locator(".typing")).to_have_text(f"{ana} is typing…", timeout=LIVE)
    expect(a.locator(".typing")).to_have_text("", timeout=LIVE + 3000)  # stopped typing: viewing again
    b.locator(".panel .close").click()
    expect(a.locator(f'.panel-presence .avatar[title="{ana}"]')).to_have_count(0, timeout=LIVE)
    expect(a.locator(f'.presence .avatar[title="{ana}"]')).to_have_count(1)  # still on the board
    b.close()
    expect(a.locator(f'.presence .avatar[title="{ana}"]')).to_have_count(0, timeout=LIVE)
