"""The board in the browser: session login and the page shell; the data comes from the public API."""

from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("login/", views.Login.as_view(), name="login"),
    path("logout/", views.Logout.as_view(), name="logout"),
    path("register/", views.register, name="register"),
    path("", views.shell, name="home"),
    # Client-side routes, all the same page: the projects list, a board, a board with a card open.
    path("p/<uuid:project_id>/", views.shell, name="board"),
    path("p/<uuid:project_id>/t/<uuid:task_id>/", views.shell, name="task"),
]
