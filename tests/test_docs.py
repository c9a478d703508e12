"""The README is a contract: quick start, commands and settings must stay true."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from archiver import settings
from archiver.cli import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands() -> None:
    demo, tests = quick_start_commands()
    assert "archiver demo" in demo and "pip install" in demo
    assert "pytest" in tests and "'.[test]'" in tests


def test_ci_runs_the_readme_test_command() -> None:
    assert quick_start_commands()[1] in (REPO / ".ci" / "run").read_text()


def test_every_setting_is_documented() -> None:
    names = [n for n in dir(settings) if n.startswith("ARCHIVER_")]
    assert names
    for name in names:
        assert f"`{name}`" in README, f"{name} missing from the README's settings table"
    for name in re.findall(r"`(ARCHIVER_[A-Z_]+)`", README):
        assert name in names, f"README documents {name}, which does not exist"


def test_every_command_is_documented() -> None:
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert f"`archiver {name}" in README, f"archiver {name} missing from the README"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in ("--help", "--set"):
                    assert opt in README, f"archiver {name} {opt} is undocumented"


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line and (REPO / line).is_file()]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the project's files")
def test_quick_start_demo_command_as_a_newcomer(tmp_path: Path) -> None:
    """Run the README's demo command verbatim in a fresh copy of the project.

    It creates a virtualenv and pip-installs the project from the package
    registry (the only network a fresh machine has besides loopback); the demo
    itself then talks to 127.0.0.1 only (test_cli runs it under the guard).
    """
    clone = tmp_path / "clone"
    for name in tracked_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    demo = quick_start_commands()[0]
    proc = subprocess.run(["bash", "-c", demo], cwd=clone, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Crawl finished" in proc.stdout
    assert int(proc.stdout.split("articles indexed:")[1].split()[0]) >= 30
    assert (clone / "archive" / "index.db").exists()
