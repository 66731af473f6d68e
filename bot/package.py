"""`python -m bot.package`: build appPackage.zip (manifest and icons at the root) from settings, never by hand."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "manifest" / "manifest.json"
SCHEMAS = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})+$")
PLACEHOLDER = re.compile(r"\$\{\{([A-Z_]+)\}\}")


class PackageError(ValueError):
    pass


def package_values(env: Mapping[str, str]) -> dict[str, str]:
    """The values the manifest template needs, from the same settings the bot runs with."""
    bot_id = env.get("MicrosoftAppId", "").strip()
    domain = env.get("BOT_DOMAIN", "").strip().removeprefix("https://").rstrip("/")
    problems = []
    if not GUID.match(bot_id):
        problems.append(f"MicrosoftAppId must be the bot's Entra app id (a GUID), got {bot_id!r}")
    if not DOMAIN.match(domain):
        problems.append(f"BOT_DOMAIN must be the host name that serves /api/messages, got {domain!r}")
    teams_app_id = env.get("TEAMS_APP_ID", "").strip() or str(uuid.uuid5(uuid.NAMESPACE_URL, f"teams-app:{bot_id}"))
    if not GUID.match(teams_app_id):
        problems.append(f"TEAMS_APP_ID must be a GUID, got {teams_app_id!r}")
    # Teams single sign-on's app (approver mode: the sign-in app registration); else the bot's own id.
    signin_app_id = env.get("SIGNIN_APP_ID", "").strip() or bot_id
    if not GUID.match(signin_app_id):
        problems.append(f"SIGNIN_APP_ID must be the sign-in app registration's id (a GUID), got {signin_app_id!r}")
    version = env.get("APP_VERSION", "1.0.0").strip()
    if not re.match(r"^\d+\.\d+\.\d+$", version):
        problems.append(f"APP_VERSION must be a semantic version like 1.2.3, got {version!r}")
    if problems:
        raise PackageError("Cannot build the app package:\n  - " + "\n  - ".join(problems))
    return {
        "BOT_ID": bot_id,
        "BOT_DOMAIN": domain,
        "TEAMS_APP_ID": teams_app_id,
        "APP_VERSION": version,
        "SIGNIN_APP_ID": signin_app_id,
    }


def fill_manifest(values: Mapping[str, str], template: Path = TEMPLATE) -> dict[str, Any]:
    text = template.read_text()
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise PackageError(f"the manifest template needs values for {', '.join(missing)}")
    return json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], text))


def schema_for(manifest: dict[str, Any]) -> dict[str, Any]:
    """The official schema for the manifest's version, as shipped in npm @microsoft/app-manifest (offline)."""
    path = SCHEMAS / f"v{manifest['manifestVersion']}" / "MicrosoftTeams.schema.json"
    if not path.is_file():
        raise PackageError(f"no schema for manifest {manifest['manifestVersion']} at {path}: run npm ci")
    return json.loads(path.read_text())


def validate(manifest: dict[str, Any]) -> list[str]:
    from jsonschema import Draft4Validator

    validator = Draft4Validator(schema_for(manifest))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in validator.iter_errors(manifest)
    ]


def build_package(values: Mapping[str, str], out: Path) -> dict[str, Any]:
    manifest = fill_manifest(values)
    errors = validate(manifest)
    if errors:
        raise PackageError("The filled manifest does not validate:\n  - " + "\n  - ".join(errors))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        for icon in (manifest["icons"]["color"], manifest["icons"]["outline"]):
            archive.write(TEMPLATE.parent / icon, icon)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.package", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "appPackage.zip")
    args = parser.parse_args(argv)
    from bot.settings import read_dotenv

    env = {**read_dotenv(Path(".env")), **os.environ}
    try:
        manifest = build_package(package_values(env), args.out)
    except PackageError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.out}: Teams app {manifest['id']} v{manifest['version']} for bot {manifest['bots'][0]['botId']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
