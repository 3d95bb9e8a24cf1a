"""`manage.py run_agent --session <slug> --run <run_id>`: the agent container's command."""
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run one agent run of a session (the agent container's entry point)."
    requires_system_checks = []  # the container has no SQL database and needs none of the checks

    def add_arguments(self, parser):
        parser.add_argument("--session", required=True, help="The app's slug.")
        parser.add_argument("--run", required=True, help="The AgentRun id.")

    def handle(self, *args, session, run, **options):
        from agents.runner import run_agent

        code = run_agent(session=session, run_id=run)
        sys.stdout.flush()
        if code:
            sys.exit(code)
