"""The README stays true: its two commands, and every setting documented."""

from __future__ import annotations

import re

from dashboard import config

README = (config.PROJECT_ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert blocks[:2] == [
        "pip install -e . && sitroom run",
        "pip install -e '.[test]' && python -m pytest",
    ]
    before_first = README.split("```bash", 1)[0].strip().splitlines()
    assert before_first == ["# Situation Room"]


def test_ci_runs_the_readme_test_command():
    ci = (config.PROJECT_ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and "n==2" in ci


def test_every_setting_is_documented():
    for name in config.SETTINGS:
        assert f"`{name}`" in README, name


def test_no_word_of_enforcement():
    """DESIGN.md §2.9: "irregular", never "illegal" — in the docs and the code alike."""
    checked = 0
    for path in config.PROJECT_ROOT.glob("**/*"):
        if path.suffix in {".py", ".md", ".yaml", ".toml"} and ".git" not in path.parts \
                and "site-packages" not in path.parts and path.name != "test_docs.py":
            checked += 1
            assert "illegal" not in path.read_text(errors="ignore").lower(), path
    assert checked > 10
