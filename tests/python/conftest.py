"""Shared fixtures of the Python package's tests: the installed `memsight` command and the
snapshots the tests read. Missing data fails the test and says what is missing, as the Rust
tests do: a test that cannot see its input has tested nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_snapshots"
# CI lays shared/ beside the clone; a developer's worktree has it beside the repository too.
SHARED = REPO.parent / "shared" / "snapshots"


def need(path: Path) -> Path:
    """`path`, which must exist (a clear failure otherwise, never a skip)."""
    if not path.exists():
        pytest.fail(f"test data missing: {path}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def memsight_cmd() -> str:
    """The `memsight` command the wheel installed beside this interpreter."""
    cmd = Path(sys.executable).parent / "memsight"
    if not cmd.exists():
        pytest.fail(f"no memsight command beside {sys.executable}: is the package installed?")
    return str(cmd)


def run(cmd, *args, check=True):
    """Runs a command; returns (exit code, stdout, stderr)."""
    p = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} {args} exited {p.returncode}: {p.stderr}")
    return p.returncode, p.stdout, p.stderr


def cli_json(cmd, *args):
    return json.loads(run([cmd], *args)[1])


def sample(name: str) -> Path:
    return need(SAMPLES / name)


def shared(name: str) -> Path:
    return need(SHARED / name)


os.environ.setdefault("NO_COLOR", "1")
