"""WSGI entry point: the fastest way to serve the REST API on this machine (see README)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskhub.settings")

application = get_wsgi_application()
