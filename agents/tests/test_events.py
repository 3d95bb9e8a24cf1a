"""Agent events in the MongoDB wire-protocol store, over TCP through mongoengine."""
import pytest
from mongoengine.connection import get_connection
from mongoengine.errors import NotUniqueError

from agents.documents import AgentEvent
from agents.selectors import events_since
from agents.services import event_append


def test_events_are_stored_over_tcp_and_read_back_in_sequence(settings):
    first = event_append(session="todo-app", type="AGENT_START", payload={"role": "team_leader"})
    event_append(session="todo-app", type="MESSAGE_DELTA", payload={"text": "Planning"})
    event_append(session="other-app", type="AGENT_START")
    third = event_append(session="todo-app", type="FINISH")

    # The data went through a socket to the store the settings name, not an in-process fake.
    host, port = get_connection().address
    assert f"{host}:{port}" in settings.MGX_MONGO_URL
    assert [first.seq, third.seq] == [1, 3]
    replay = events_since(session="todo-app", after_seq=1)
    assert [(e.seq, e.type) for e in replay] == [(2, "MESSAGE_DELTA"), (3, "FINISH")]
    assert replay[0].payload == {"text": "Planning"}
    assert [e.seq for e in events_since(session="other-app")] == [1]


def test_the_store_refuses_a_duplicate_sequence_number():
    stored = event_append(session="todo-app", type="AGENT_START")
    with pytest.raises(NotUniqueError):
        AgentEvent(session="todo-app", seq=stored.seq, type="ERROR").save(force_insert=True)
    assert [e.type for e in events_since(session="todo-app")] == ["AGENT_START"]
