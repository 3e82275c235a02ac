from django.urls import path

from realtime.consumers import BoardConsumer

websocket_urlpatterns = [
    path("ws/", BoardConsumer.as_asgi()),
]
