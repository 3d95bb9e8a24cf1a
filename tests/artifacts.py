"""Where browser tests keep what they saw."""
import os
from pathlib import Path

from mgx_site import defaults


def shots_folder(name: str) -> Path:
    """var/test-artifacts/<name>/ (MGX_TEST_ARTIFACTS moves it), which CI keeps: screenshots a
    person looks at."""
    folder = Path(os.environ.get("MGX_TEST_ARTIFACTS") or defaults.MGX_VAR_DIR / "test-artifacts") / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
