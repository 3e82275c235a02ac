"""What a new user sees after ``make run``: a styled admin and a working API docs page."""

from __future__ import annotations

import json
import urllib.request

from tests.browser.site import DEMO_EMAIL, DEMO_PASSWORD

# The admin header's colour: the admin stylesheet's --secondary (#417690), which nothing else sets.
ADMIN_HEADER = "rgb(65, 118, 144)"


def test_the_admin_is_styled_and_lists_the_demo_tasks(site, page):
    page.goto(f"{site.base}/admin/login/")
    page.fill("#id_username", DEMO_EMAIL)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{site.base}/admin/")
    page.goto(f"{site.base}/admin/tasks/task/", wait_until="networkidle")
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor") == ADMIN_HEADER
    assert page.locator("#result_list tbody tr").count() > 0


def test_the_api_docs_render_every_operation(site, page):
    with urllib.request.urlopen(f"{site.base}/api/v1/openapi.json") as reply:
        schema = json.load(reply)
    operations = sum(1 for methods in schema["paths"].values() for method in methods
                     if method in {"get", "post", "put", "patch", "delete"})
    page.goto(f"{site.base}/api/v1/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations
    assert page.locator(".opblock-summary-path").first.inner_text().startswith("/api/v1/")
