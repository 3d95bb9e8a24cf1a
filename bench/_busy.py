"""Two CPU burners beside a bench (`--burners 2`): the "busy machine" of bench/README.md's
numbers, the same way each time. Each is `python3 -c 'while True: pass'`, ended with the bench."""
import subprocess
import sys
from contextlib import contextmanager


@contextmanager
def burners(count: int):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)
