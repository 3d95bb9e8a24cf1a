"""Test helpers for the agent team that are real programs, not mocks (the scripted model server)."""
from .llm_server import ScriptedLLM, reply

__all__ = ["ScriptedLLM", "reply"]
