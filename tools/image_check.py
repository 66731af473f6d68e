"""Run the built image against the simulated tenant and check it works as shipped (tools/image_check.sh builds it).

On the host: the simulated tenant (sim/, HTTPS with its own CA, mounted into the container) and the recording Bot
Connector (tests/support/connector.py). In the container (`docker run --network host`, as the image's own user,
with only the settings the sim needs): the bot, `python app.py`. Checked, each failing the run when wrong:
1. GET /healthz answers 200;
2. Tesseract and its language data are in the image: `bot.photo.read_photo` inside the container reads photos of
   the error from the team's corpus (English, Japanese, Korean, Russian) and the recogniser starts a diagnosis on
   each, and a photo of an Autopilot error does not;
3. end to end: a photo pasted into a chat reaches the bot over HTTP; it downloads it from the Bot Connector, reads
   it in its sandbox, answers "Checking your tenant" with what it read, and reads the simulated tenant's policy;
4. the image's own HEALTHCHECK reports the container healthy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo import sim_graph_env  # noqa: E402
from sim.runner import load_tenant, start_sim  # noqa: E402
from tests.support.activities import message  # noqa: E402
from tests.support.cards import text_of  # noqa: E402
from tests.support.connector import RecordingConnector  # noqa: E402
from tests.support.photos import corpus  # noqa: E402

DOCKER_SECONDS = 300
SMALL = (2016, 1512)  # a phone photo as Teams often delivers it
READ_IN_CONTAINER = {
    "english-oobe-dark": True,
    "japanese-settings-light": True,
    "korean-oobe-light": True,
    "russian-settings-dark": True,
    "autopilot-0x80180022-settings-light": False,
}
# Inside the container: one photo on stdin, what was read and whether the recogniser starts a diagnosis on it.
READER = (
    "import json, sys\n"
    "from bot.photo import read_photo\n"
    "from bot.domain.recognizer import Intent, recognize\n"
    "text = read_photo('photo.jpg', sys.stdin.buffer.read()).text\n"
    "print(json.dumps({'text': text, 'diagnose': recognize(text).intent is Intent.DIAGNOSE}))\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def docker(*args: str, data: bytes | None = None) -> str:
    """The docker CLI, without blocking the loop that serves the sim and the connector to the container."""
    process = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(data), DOCKER_SECONDS)
    if process.returncode != 0:
        raise SystemExit(f"docker {args[0]} failed: {err.decode(errors='replace')[-800:]}")
    return out.decode()


def photos() -> dict[str, bytes]:
    wanted = {name.rsplit("-", 2)[0] for name in READ_IN_CONTAINER}
    return {p.name: p.data for p in corpus(size=SMALL, only=wanted) if p.name in READ_IN_CONTAINER}


async def wait_healthy(session: aiohttp.ClientSession, url: str, name: str, seconds: float = 90) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            async with session.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return time.monotonic() - start
        except aiohttp.ClientError:
            pass
        state = (await docker("inspect", "-f", "{{.State.Running}}", name)).strip()
        if state != "true":
            logs = await docker("logs", "--tail", "40", name)
            raise SystemExit("the container stopped:\n" + logs)
        await asyncio.sleep(0.5)
    raise SystemExit(f"/healthz did not answer 200 within {seconds:.0f} s")


def first_card(connector: RecordingConnector) -> dict[str, Any] | None:
    return next((a["attachments"][0]["content"] for a in connector.sent if a.get("attachments")), None)


async def check(image: str) -> None:
    shots = photos()
    with tempfile.TemporaryDirectory(prefix="image-check-") as scratch:
        tls_dir = Path(scratch) / "tls"
        sim = await start_sim(load_tenant(), tls_dir)
        connector = RecordingConnector()
        runner = web.AppRunner(connector.app(), access_log=None)
        await runner.setup()
        connector_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", connector_port).start()
        connector.url = f"http://127.0.0.1:{connector_port}"
        port = free_port()
        name = f"enrollment-doctor-check-{port}"
        env = {**sim_graph_env(sim), "GRAPH_CA_BUNDLE": "/sim/ca.pem", "PORT": str(port), "HOST": "127.0.0.1"}
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        sim.ca_pem.chmod(0o644)  # readable by the image's own user (uid 10001)
        mount = f"{sim.ca_pem}:/sim/ca.pem:ro"
        await docker("run", "-d", "--rm", "--name", name, "--network", "host", "-v", mount, *env_args, image)
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}"
                took = await wait_healthy(session, url, name)
                print(f"1. /healthz 200 after {took:.1f} s")

                print("2. photos read inside the container (bot.photo, Tesseract):")
                for photo, is_error in READ_IN_CONTAINER.items():
                    start = time.perf_counter()
                    answer = json.loads(await docker("exec", "-i", name, "python", "-c", READER, data=shots[photo]))
                    seconds = time.perf_counter() - start
                    first_line = answer["text"].replace("\n", " | ")[:90]
                    print(f"   {photo}: diagnosis {answer['diagnose']} in {seconds:.1f} s, read {first_line!r}")
                    if answer["diagnose"] is not is_error:
                        raise SystemExit(f"{photo}: expected diagnosis {is_error}, read {answer['text']!r}")

                connector.files["shot"] = shots["english-oobe-dark"]
                activity = message(connector.url, "")
                pasted = {"contentType": "image/jpeg", "contentUrl": connector.attachment_url("shot")}
                activity["attachments"] = [pasted]
                async with session.post(f"{url}/api/messages", json=activity) as response:
                    status = response.status
                for _ in range(240):
                    if any(r["route"] == "policy.get" for r in sim.simulator.requests) and connector.cards():
                        break
                    await asyncio.sleep(0.5)
                card = first_card(connector)
                shown = text_of(card) if card else ""
                routes = sorted({r["route"] for r in sim.simulator.requests})
                print(f"3. a pasted photo over HTTP: {status}; first card {card and card.get('fallbackText')!r}")
                print(f"   the simulated tenant was read: {', '.join(routes)}")
                if not (card and "Read from the photo" in shown and "policy.get" in routes):
                    logs = await docker("logs", "--tail", "40", name)
                    raise SystemExit("the pasted photo did not start a diagnosis:\n" + logs)
            for _ in range(90):  # the HEALTHCHECK's first probe runs 30 s after the start
                health = (await docker("inspect", "-f", "{{.State.Health.Status}}", name)).strip()
                if health != "starting":
                    break
                await asyncio.sleep(1)
            print(f"4. docker's HEALTHCHECK: {health}")
            if health != "healthy":
                raise SystemExit(f"the image's HEALTHCHECK says {health}")
        finally:
            with contextlib.suppress(SystemExit):
                await docker("rm", "-f", name)
            await runner.cleanup()
            await sim.close()
    print("image check passed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="enrollment-doctor:check")
    asyncio.run(check(parser.parse_args().image))


if __name__ == "__main__":
    main()
