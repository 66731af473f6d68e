"""The lock files: made from pyproject.toml as it is, with a hash for every file, and what is installed."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from tools.lock import DEV, RUNTIME, _normalize, lock_problems, read_lock

ROOT = Path(__file__).resolve().parents[2]


def test_both_locks_agree_with_pyproject():
    assert lock_problems(ROOT / "pyproject.toml", RUNTIME) == []
    assert lock_problems(ROOT / "pyproject.toml", DEV, ("dev",)) == []


def test_the_runtime_pins_are_the_dev_pins():
    _, runtime = read_lock(RUNTIME)
    _, dev = read_lock(DEV)
    assert runtime and {name: pin[0] for name, pin in runtime.items()} == {name: dev[name][0] for name in runtime}


def test_what_runs_the_tests_is_what_the_dev_lock_says():
    _, dev = read_lock(DEV)
    installed = {_normalize(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    assert {name: installed.get(name) for name in dev} == {name: pin[0] for name, pin in dev.items()}


def test_a_dependency_added_or_changed_without_make_lock_is_caught(tmp_path: Path):
    text = (ROOT / "pyproject.toml").read_text()
    added = tmp_path / "pyproject.toml"
    added.write_text(text.replace("dependencies = [\n", 'dependencies = [\n    "left-pad-py>=1",\n', 1))
    problems = lock_problems(added, RUNTIME)
    assert "requirements.lock was not made from this pyproject.toml's dependencies: run `make lock`" in problems
    assert "left-pad-py is in pyproject.toml but not pinned in requirements.lock" in problems
    narrowed = tmp_path / "narrowed.toml"
    narrowed.write_text(text.replace('"aiohttp>=3.9,<4"', '"aiohttp>=3.9,<3.10"'))
    assert any("pins aiohttp==" in p and "outside <3.10,>=3.9" in p for p in lock_problems(narrowed, RUNTIME))


def test_a_pin_without_hash_is_caught(tmp_path: Path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(RUNTIME.read_text().replace("orjson==", "orjson-unhashed==", 1) + "orjson==3.10.0\n")
    assert "orjson==3.10.0 has no hash in requirements.lock" in lock_problems(ROOT / "pyproject.toml", lock)
