from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self):
        from tasks import receivers  # noqa: F401 (connects the signal receivers)
