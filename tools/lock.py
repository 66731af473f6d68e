"""`make lock`: pin every Python dependency, with hashes, from pyproject.toml.

Writes two lock files with pip-compile (pip-tools):
- requirements.lock: what the bot runs with (the Docker image installs exactly this);
- requirements-dev.lock: the same pins plus the dev tools (make and CI install exactly this).
Both start with the hash of the dependency lists they were made from, so a test can tell when
pyproject.toml changed and the locks did not (tests/unit/test_lock.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "requirements.lock"
DEV = ROOT / "requirements-dev.lock"
MARK = "# pyproject-dependencies-sha256: "
COMMON = [
    "--generate-hashes",
    "--allow-unsafe",  # setuptools (the build backend) is pinned too
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
    "--no-emit-trusted-host",
    "--quiet",
    "--resolver=backtracking",
]


def dependencies_hash(pyproject: Path = ROOT / "pyproject.toml") -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    lists = {
        "python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional": {k: sorted(v) for k, v in sorted(project.get("optional-dependencies", {}).items())},
    }
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def read_lock(path: Path) -> tuple[str | None, dict[str, tuple[str, int]]]:
    """(the dependency hash it was made from, {normalized name: (version, number of hashes)})."""
    mark = None
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith(MARK):
            mark = line[len(MARK) :].strip()
        elif line and not line.startswith((" ", "#")) and "==" in line:
            name, _, version = line.split(" ")[0].partition("==")
            current = _normalize(name)
            pins[current] = (version, 0)
        elif current and line.strip().startswith("--hash="):
            version, count = pins[current]
            pins[current] = (version, count + 1)
    return mark, pins


def _normalize(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def lock_problems(pyproject: Path, lock: Path, extras: tuple[str, ...] = ()) -> list[str]:
    """Where pyproject.toml and a lock file disagree; empty when they agree."""
    from packaging.requirements import Requirement

    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = list(project.get("dependencies", []))
    for extra in extras:
        wanted += project.get("optional-dependencies", {}).get(extra, [])
    mark, pins = read_lock(lock)
    problems = []
    if mark != dependencies_hash(pyproject):
        problems.append(f"{lock.name} was not made from this pyproject.toml's dependencies: run `make lock`")
    for text in wanted:
        requirement = Requirement(text)
        name = _normalize(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is in pyproject.toml but not pinned in {lock.name}")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{lock.name} pins {requirement.name}=={pins[name][0]}, outside {requirement.specifier}")
    problems += [f"{name}=={version} has no hash in {lock.name}" for name, (version, n) in pins.items() if n == 0]
    return problems


def compile_lock(output: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "piptools", "compile", *COMMON, *extra, "-o", str(output), "pyproject.toml"]
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "CUSTOM_COMPILE_COMMAND": "make lock"})
    body = output.read_text()
    output.write_text(f"{MARK}{dependencies_hash()}\n{body}")


def main() -> int:
    for path in (RUNTIME, DEV):
        path.unlink(missing_ok=True)
    compile_lock(RUNTIME)
    # The dev lock is constrained by the runtime lock: the bot runs in CI with the versions it ships with.
    compile_lock(DEV, "--extra", "dev", "--constraint", RUNTIME.name)
    print(f"wrote {RUNTIME.name} and {DEV.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
