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

from accounts import ratelimit
from taskhub.clientaddr import client_address
from tasks.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD

# Failed session logins per window (TASKHUB_RATE_WINDOW) from one address and for one email: the same
# budget as POST /auth/token's, but only failures count, so people who type their password right are
# never held up by the limit, while guessing is.
FAILED_LOGINS_PER_IP, FAILED_LOGINS_PER_EMAIL = 20, 10


def demo_login_prefilled() -> bool:
    """The demo login is filled in on the embedded default only (``make run``: DEBUG on, no
    DATABASE_URL, no REDIS_URL): there it is the machine's own throwaway data; anywhere else
    it would publish a password."""
    return settings.DEBUG and not settings.DATABASE_URL and not settings.REDIS_URL


class Login(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def _limits(self, request) -> list[tuple[str, str, int]]:
        email = request.POST.get("username", "").strip().lower()
        return [("login-fail-ip", client_address(request) or "unknown", FAILED_LOGINS_PER_IP),
                ("login-fail-email", email, FAILED_LOGINS_PER_EMAIL)]

    def post(self, request, *args, **kwargs):
        window = settings.TASKHUB_RATE_WINDOW
        for scope, ident, limit in self._limits(request):
            wait = ratelimit.over(scope, ident, limit=limit, window=window)
            if wait is not None:  # the form is not even checked: no password is tried
                context = self.get_context_data(form=self.get_form_class()(request), throttled=True)
                response = self.render_to_response(context, status=429)
                response["Retry-After"] = str(wait)
                return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        for scope, ident, limit in self._limits(self.request):
            ratelimit.hit(scope, ident, limit=limit, window=settings.TASKHUB_RATE_WINDOW)
        return super().form_invalid(form)

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
