from django.urls import path

from agents.consumers import AgentEventsConsumer
from core.consumers import EchoConsumer
from deployments.consumers import LogsConsumer, TerminalConsumer
from sessions_app.consumers import AppEventsConsumer

websocket_urlpatterns = [
    path("ws/echo/", EchoConsumer.as_asgi()),
    path("ws/apps/<slug:slug>/", AppEventsConsumer.as_asgi()),
    path("ws/apps/<slug:slug>/agent/", AgentEventsConsumer.as_asgi()),
    path("ws/apps/<slug:slug>/logs/<slug:role>/", LogsConsumer.as_asgi()),
    path("ws/apps/<slug:slug>/terminal/<slug:role>/", TerminalConsumer.as_asgi()),
]
