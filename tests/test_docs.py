"""The README stays true: its two commands, and every setting documented."""

from __future__ import annotations

import re

from dashboard import config

README = (config.PROJECT_ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert blocks[:2] == [
        "pip install -e . && sitroom run",
        "pip install -e '.[test]' && python -m pytest -n 2 --dist loadgroup",
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
    """docs/design.md §2.9: "irregular", never "illegal" — in the docs and the code alike.
    (Tests may name the word in order to forbid it.)"""
    checked = 0
    skip = {".git", "tests", "var", ".venv", "site-packages"}
    for path in config.PROJECT_ROOT.glob("**/*"):
        if path.suffix in {".py", ".md", ".yaml", ".toml"} and not skip & set(path.parts):
            checked += 1
            # the rule itself may be stated
            body = path.read_text(errors="ignore").lower().replace('never "illegal"', "")
            assert "illegal" not in body, path
    assert checked > 10
