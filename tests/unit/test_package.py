"""The Teams app package: the filled manifest against the official schema, the icons, the zip, the Dockerfile."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from bot.package import ROOT, PackageError, build_package, fill_manifest, package_values, validate
from bot.photo import LATIN, OTHER_SCRIPTS
from bot.settings import load_settings

ENV = {"MicrosoftAppId": "11111111-2222-3333-4444-555555555555", "BOT_DOMAIN": "doctor.contoso.com"}


def test_the_filled_manifest_validates_against_the_official_schema():
    manifest = fill_manifest(package_values(ENV))
    assert manifest["manifestVersion"] >= "1.24"
    assert validate(manifest) == []
    bot = manifest["bots"][0]
    assert bot["botId"] == ENV["MicrosoftAppId"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    titles = {c["title"] for lst in bot["commandLists"] for c in lst["commands"]}
    assert {"diagnose", "status", "alerts on", "alerts off", "audit", "help"} <= titles
    assert manifest["validDomains"] == ["doctor.contoso.com", "token.botframework.com"]
    # Teams single sign-on (approver mode): the bot's exposed API, its app the bot's own unless told otherwise.
    assert manifest["webApplicationInfo"] == {
        "id": ENV["MicrosoftAppId"],
        "resource": f"api://botid-{ENV['MicrosoftAppId']}",
    }
    signin = "99999999-2222-4333-8444-555555555555"
    assert fill_manifest(package_values({**ENV, "SIGNIN_APP_ID": signin}))["webApplicationInfo"]["id"] == signin
    assert "${{" not in json.dumps(manifest)


def test_the_schema_check_does_catch_mistakes():
    manifest = fill_manifest(package_values(ENV))
    manifest["name"]["short"] = "x" * 31
    manifest["bots"][0]["scopes"].append("meeting")
    errors = validate(manifest)
    assert any("name/short" in e for e in errors) and any("scopes" in e for e in errors)


def test_settings_are_required_and_named():
    with pytest.raises(PackageError, match="MicrosoftAppId") as error:
        package_values({"BOT_DOMAIN": "https://doctor.contoso.com/"})
    assert "BOT_DOMAIN" not in str(error.value)  # the https:// and / are tolerated
    with pytest.raises(PackageError, match="BOT_DOMAIN"):
        package_values({"MicrosoftAppId": ENV["MicrosoftAppId"]})
    with pytest.raises(PackageError, match="APP_VERSION"):
        package_values({**ENV, "APP_VERSION": "one"})


def test_icons_are_the_right_size_and_the_outline_is_white_on_transparent():
    color = Image.open(ROOT / "manifest" / "color.png")
    outline = Image.open(ROOT / "manifest" / "outline.png").convert("RGBA")
    assert color.size == (192, 192)
    assert outline.size == (32, 32)
    pixels = [outline.getpixel((x, y)) for x in range(32) for y in range(32)]
    assert {p[3] for p in pixels} == {0, 255}  # fully transparent or fully opaque
    assert {p[:3] for p in pixels if p[3] == 255} == {(255, 255, 255)}  # and white only


def test_the_package_has_manifest_and_icons_at_the_root(tmp_path: Path):
    out = tmp_path / "appPackage.zip"
    manifest = build_package(package_values(ENV), out)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == manifest


def test_the_dockerfile_matches_the_app():
    dockerfile = (ROOT / "Dockerfile").read_text()
    settings = load_settings({"GRAPH_TENANT_ID": "t", "GRAPH_CLIENT_ID": "c", "GRAPH_CLIENT_SECRET": "s"}, dotenv=None)
    assert re.search(rf"^EXPOSE {settings.port}$", dockerfile, re.M)
    assert re.search(r"^USER (?!root|0$)\w+", dockerfile, re.M)
    assert "/healthz" in dockerfile and "HEALTHCHECK" in dockerfile
    assert 'CMD ["python", "app.py"]' in dockerfile
    assert not re.search(r"(PASSWORD|SECRET)\s*=", dockerfile)
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True
    )
    assert lint.returncode == 0, lint.stdout.decode()
    # Pinned to a Debian release; exactly the runtime lock, hash-checked; one copy of the code (not pip-installed,
    # so no build/ or *.egg-info); the data directory a declared volume, owned by the user the bot runs as.
    # (The base is a build arg only so tools/image_check.sh can build FROM a stand-in; the default is the real one.)
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm(@sha256:[0-9a-f]{64})?$", dockerfile, re.M)
    assert re.findall(r"^FROM .*$", dockerfile, re.M) == ["FROM ${BASE_IMAGE}"]
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert not re.search(r"pip install[^\n]*(\s\.(\s|$)|-e\s)", dockerfile)
    assert re.search(r'^VOLUME \["/data"\]$', dockerfile, re.M) and "sqlite:////data/" in dockerfile
    assert "chown 10001 /data" in dockerfile and re.search(r"^USER 10001$", dockerfile, re.M)
    # The image carries the OCR engine and the models the Makefile installs for the tests (bot/photo.py).
    makefile = (ROOT / "Makefile").read_text()
    ocr_packages = re.search(r"^OCR_PACKAGES := (.*)$", makefile, re.M)
    assert ocr_packages is not None
    tesseract = {p for p in ocr_packages.group(1).split() if p.startswith("tesseract-")}
    installed = re.search(r"apt-get install -y --no-install-recommends ([^&]*)&&", dockerfile.replace("\\\n", " "))
    assert installed is not None and set(installed.group(1).split()) == tesseract  # the same, nothing more or less
    # ... and they are the models bot/photo.py asks Tesseract for ("Latin": script/Latin; "chi_sim": chi-sim).
    models = {LATIN, *"+".join(OTHER_SCRIPTS).split("+")}
    wanted = {"tesseract-ocr"} | {
        "tesseract-ocr-script-latn" if m == "Latin" else "tesseract-ocr-" + m.replace("_", "-") for m in models
    }
    assert tesseract == wanted
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", "node_modules", ".venv"} <= set(ignored)


def test_botbuilder_stays_behind_the_transport_seam():
    """The modules that may import botbuilder or botframework-connector, as the README lists them."""
    seam = {"app.py", "bot/adapter.py", "bot/web.py", "bot/teams_bot.py", "bot/handlers/context.py", "bot/proactive.py"}
    importing = set()
    for path in [ROOT / "app.py", *ROOT.glob("bot/**/*.py"), *ROOT.glob("cards/**/*.py"), *ROOT.glob("sim/**/*.py")]:
        if re.search(r"^\s*(from|import) (botbuilder|botframework)\b", path.read_text(), re.M):
            importing.add(str(path.relative_to(ROOT)))
    assert importing == seam


def test_the_readme_shows_the_two_commands_on_its_first_screen():
    """A newcomer looks for how to run it first: `make demo` and `make test` within the first 24 lines."""
    first_screen = (ROOT / "README.md").read_text().splitlines()[:24]
    commands = [line.split("#")[0].strip() for line in first_screen]
    assert "make demo" in commands
    assert "make test" in commands
