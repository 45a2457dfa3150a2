"""The core type-checks: mypy over dashboard/ with the settings of pyproject.toml."""

from __future__ import annotations

import subprocess
import sys

from dashboard.config import PROJECT_ROOT


def test_the_core_type_checks():
    done = subprocess.run([sys.executable, "-m", "mypy", "dashboard"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
