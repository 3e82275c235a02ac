from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from taskhub.api import api
from taskhub.metrics import metrics_view

# A database fault met outside any view (the session saved after the response) answers 503, not 500.
handler500 = "taskhub.faults.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", include("web.urls")),
]

if settings.TASKHUB_BENCH_FLOOR:
    from bench.floor_views import urlpatterns as bench_urlpatterns

    urlpatterns += bench_urlpatterns
