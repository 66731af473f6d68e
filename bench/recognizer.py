"""Recognise 10,000 pasted event-log dumps of about 2 KB: the recogniser against a plain regex scan.

The messages are what admins paste: Event Viewer's "Copy details as text" blocks from the provisioning, MDM,
device registration and AAD logs. A third carry the bulk enrollment error (in English or another language, or
as a code from the provisioning log); the rest are dumps of other logs, which must go all the way through the
recogniser (lookalikes, codes, languages) before it can say they are not ours. The baseline is
the cheapest thing that could be called recognition: one compiled, case-insensitive regex for the English
error text searched in each message. Both run in this process on the same messages, interleaved, best of
several rounds; the figure that matters is the ratio (the issue's target: within 5x). Run: `make bench`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain.recognizer import Intent, recognize  # noqa: E402

BASELINE = re.compile(r"a setup failure has occurred during bulk enrollment", re.IGNORECASE)

LOGS = [
    (
        "Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin",
        "Microsoft-Windows-Provisioning-Diagnostics-Provider",
    ),
    (
        "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider/Admin",
        "Microsoft-Windows-DeviceManagement-Enterprise-Diagnostics-Provider",
    ),
    ("Microsoft-Windows-User Device Registration/Admin", "Microsoft-Windows-User Device Registration"),
    ("Microsoft-Windows-AAD/Operational", "Microsoft-Windows-AAD"),
]
NOISE = [
    "MDM Session: OMA-DM message failed to be sent. Result: (Unknown Win32 Error code: 0x80072ee2).",
    "The provisioning engine applied the setting ./Vendor/MSFT/Policy/Config/Update/ActiveHoursStart successfully.",
    "MDM ConfigurationManager: Command failure status. Configuration Source ID: (7C8F9E21), Enrollment Name: "
    "(MDMDeviceWithAAD), Provider Name: (Policy), Command Type: (Add: from Replace or Add), CSP URI: "
    "(./Device/Vendor/MSFT/Policy/Config/Start/HideSleep), Result: (The system cannot find the file specified.).",
    "Automatic registration failed at join phase. Exit code: Unknown HResult Error code: 0x801c001d. Server error: "
    "Tenant type: Managed Registration type: fallback_sync Debug Output: joinMode: Join drsInstance: azure",
    "Http request status: 400. Method: POST Endpoint Uri: https://login.microsoftonline.com/common/oauth2/token "
    "Correlation ID: 6F2C1B0A-3D4E-4F50-8A61-92B3C4D5E6F7",
    "Successfully applied the Wi-Fi profile SchoolNet.",
    "Windows Update Orchestrator: Checked for updates. 0 updates found.",
]
ERRORS = [
    "A setup failure has occurred during bulk enrollment.",
    "Setupfehler bei der Massenregistrierung.",
    "Er is een fout opgetreden tijdens de bulk registratie.",
    "Result: 0x801c0003 while applying the provisioning package School-PCs-Room101.ppkg",
]


def event(rng: random.Random, description: str, logs: list[tuple[str, str]]) -> str:
    log, source = rng.choice(logs)
    return (
        f"Log Name:      {log}\nSource:        {source}\n"
        f"Date:          11/{rng.randint(1, 28)}/2026 {rng.randint(1, 12)}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d} AM\nEvent ID:      {rng.choice([20, 52, 72, 76, 201, 304, 404, 1001])}\n"
        f"Task Category: None\nLevel:         {rng.choice(['Error', 'Warning', 'Information'])}\n"
        f"Keywords:      \nUser:          SYSTEM\nComputer:      LAB-PC-{rng.randint(1, 400):03d}.school.example\n"
        f"Description:\n{description}\n\n"
    )


def messages(count: int, size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(count):
        parts: list[str] = []
        carries = i % 3 == 0
        logs = LOGS if carries else LOGS[1:]  # the provisioning log itself says a package was applied
        while sum(len(p) for p in parts) < size:
            parts.append(event(rng, rng.choice(NOISE), logs))
        if carries:
            parts.insert(rng.randrange(len(parts)), event(rng, rng.choice(ERRORS), LOGS[:1]))
        out.append("".join(parts)[: size + 600])
    return out


def run(label: str, fn: Callable[[str], object], corpus: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for message in corpus:
            fn(message)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    corpus = messages(args.messages, args.size, seed=7)
    average = sum(len(m) for m in corpus) / len(corpus)
    recognised = sum(recognize(m).intent is Intent.DIAGNOSE for m in corpus)
    baseline_hits = sum(bool(BASELINE.search(m)) for m in corpus)
    baseline = product = float("inf")
    for _ in range(args.rounds):  # interleaved, so drift on the machine hits both alike
        baseline = min(baseline, run("baseline", BASELINE.search, corpus, 1))
        product = min(product, run("recogniser", recognize, corpus, 1))
    print(f"recogniser benchmark: {len(corpus)} messages, {average / 1024:.1f} KB on average, best of {args.rounds}")
    print(f"  plain regex scan   {baseline * 1e6 / len(corpus):8.1f} us/message   ({baseline_hits} hits)")
    print(f"  recogniser         {product * 1e6 / len(corpus):8.1f} us/message   ({recognised} diagnoses)")
    print(f"  ratio              {product / baseline:8.2f}x   (target: within 5x)")


if __name__ == "__main__":
    main()
