"""Views of the browser client: the session login and one page shell.

None of these views reads domain data. The shell is the same page for every client route;
its ES modules (``web/static/web/``) load everything from the public REST API and the
WebSocket, as any other frontend would (docs/frontend.md).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from tasks.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD


def demo_login_prefilled() -> bool:
    """The demo login is filled in on the embedded default only (``make run``: DEBUG on, no
    DATABASE_URL, no REDIS_URL): there it is the machine's own throwaway data; anywhere else
    it would publish a password."""
    return settings.DEBUG and not settings.DATABASE_URL and not settings.REDIS_URL


class Login(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def get_initial(self):
        initial = super().get_initial()
        if demo_login_prefilled():
            initial.update(username=DEMO_EMAIL)
        return initial

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(demo_password=DEMO_PASSWORD if demo_login_prefilled() else "",
                       open_signup=settings.TASKHUB_OPEN_SIGNUP)
        return context


class Logout(auth_views.LogoutView):
    next_page = "web:login"


@ensure_csrf_cookie
def register(request):
    """The sign-up form; the page posts it to ``POST /api/v1/auth/register``, then logs in."""
    if not settings.TASKHUB_OPEN_SIGNUP:
        raise Http404("Sign-up is closed.")
    if request.user.is_authenticated:
        return redirect("web:home")
    return render(request, "web/register.html")


@ensure_csrf_cookie
@login_required(login_url="web:login")
def shell(request, project_id=None, task_id=None):
    """The client's page, whatever the route (the modules read the ids from the address and
    ask the API; an id the user may not see shows the client's not-found page).
    ``ensure_csrf_cookie``: the modules send the ``csrftoken`` cookie back as ``X-CSRFToken``
    on every unsafe API call."""
    return render(request, "web/app.html", {"heartbeat_seconds": settings.TASKHUB_WS_HEARTBEAT_SECONDS})
