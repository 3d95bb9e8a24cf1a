"""What a refused call must leave alone, as a value tests can compare before and after."""
import hashlib
import os
from pathlib import Path


def files_digest(root: Path) -> dict[str, str]:
    """Every file under `root` (node_modules skipped) by its path, as a SHA-256 of its bytes."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "node_modules"]
        for name in filenames:
            full = Path(dirpath, name)
            files[str(full.relative_to(root))] = hashlib.sha256(full.read_bytes()).hexdigest()
    return files
