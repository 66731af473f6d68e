"""A database that cannot be opened is one clear line, at start-up and for the audit command: never a traceback,
never a silently created empty database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], database_url: str, *, as_user: int | None = None, **extra: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "Microsoft", "DATABASE_URL"))}
    env.update({"DATABASE_URL": database_url, "PORT": "39999", **extra})
    command = [sys.executable, "app.py", *args]
    if as_user is not None:
        # As that user, with no privilege but one: reading files (CAP_DAC_READ_SEARCH, never writing), so the
        # interpreter and this checkout are readable wherever they were cloned (a private `mktemp -d`, /root).
        # What it may write is exactly what uid 10001 may write: the behaviour under test.
        read_anywhere = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        command = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *read_anywhere, *command]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def request_cleanup(path: Path) -> None:
    import atexit

    atexit.register(shutil.rmtree, path, True)


GRAPH = {"GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c", "GRAPH_CLIENT_SECRET": "s"}


def test_audit_of_a_database_that_does_not_exist_names_it_and_creates_nothing(tmp_path: Path):
    missing = tmp_path / "typo" / "enrollment-docter.db"
    result = run(["audit"], f"sqlite:///{missing}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Enrollment Doctor cannot read its audit log.",
        f"DATABASE_URL: there is no SQLite database at {missing}",
    ]
    assert result.stdout == "" and not missing.exists() and not missing.parent.exists()


def test_audit_refuses_a_url_that_is_not_a_database():
    result = run(["audit"], "mysql://localhost/x")
    assert result.returncode == 2 and "DATABASE_URL must start with sqlite:// or postgresql://" in result.stderr
    assert "Traceback" not in result.stderr


def test_start_up_with_a_database_path_that_cannot_be_made_is_one_line(tmp_path: Path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the directory should be")
    result = run([], f"sqlite:///{blocker / 'enrollment-doctor.db'}", **GRAPH)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("DATABASE_URL:")]
    assert line.startswith(f"DATABASE_URL: cannot create the directory {blocker} for the SQLite database")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to act as another user")
def test_start_up_on_a_root_owned_data_directory_is_one_line_not_a_traceback():
    """The container's case: /data bind-mounted from the host, owned by root, the bot running as uid 10001."""
    base = Path(tempfile.mkdtemp(prefix="doctor-data-", dir="/tmp"))  # pytest's own tmp is closed to others
    request_cleanup(base)
    base.chmod(0o755)
    data = base / "data"
    data.mkdir(mode=0o755)  # owned by root
    result = run([], f"sqlite:///{data / 'enrollment-doctor.db'}", as_user=10001, **GRAPH)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "Enrollment Doctor cannot start.",
        f"DATABASE_URL: cannot open and write the SQLite database {data / 'enrollment-doctor.db'} (the directory "
        f"{data} must be writable by uid 10001): unable to open database file",
    ]
    # The twin: the same directory made writable by that user, and the bot gets past the database.
    os.chown(data, 10001, 10001)
    result = run(["audit"], f"sqlite:///{data / 'enrollment-doctor.db'}", as_user=10001)
    assert "there is no SQLite database" in result.stderr  # audit never creates one


def test_an_unreachable_postgres_is_one_line_without_the_password():
    result = run([], "postgresql://doctor:s3cret-pw@127.0.0.1:1/enrollment", **GRAPH)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.splitlines()[-1]
    assert line.startswith("DATABASE_URL: cannot open the PostgreSQL database postgresql://doctor:***@127.0.0.1:1/")
    assert "s3cret-pw" not in result.stderr
