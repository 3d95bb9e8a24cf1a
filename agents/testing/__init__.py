"""Test helpers for the agent team that are real programs, not mocks (the scripted model server)."""
from .llm_server import ScriptedLLM, reply
from .runs import agent_run

__all__ = ["ScriptedLLM", "agent_run", "reply"]
