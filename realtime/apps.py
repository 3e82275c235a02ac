from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime import events
        from realtime.publisher import publisher

        events.add_after_commit_hook(publisher.submit)
