"""Messages that look like ours but are about something else: other enrollment paths, other products, other errors.

Each lookalike names what the message is about, where to look instead (Microsoft's page for it where there is
one) and the marks that give it away: whole words, or phrases (see `bot.domain.reading`).
Codes that bulk enrollment does not produce carry their own lookalike, so "0x80180022" alone is answered as
the Autopilot error it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.reading import Phrase, PhraseSet, Reading, gated

TSWIN = "https://learn.microsoft.com/troubleshoot/mem/intune/device-enrollment/troubleshoot-windows-enrollment-errors"


@dataclass(frozen=True)
class Lookalike:
    key: str
    what: str  # "a Windows Autopilot problem": reads after "That looks like"
    advice: str  # one line: where to look instead
    link: str | None = None
    words: frozenset[str] = frozenset()
    phrases: PhraseSet = PhraseSet(())
    code: str | None = None  # the code that gave it away, with its meaning
    meaning: str | None = None


LOOKALIKES: tuple[Lookalike, ...] = (
    Lookalike(
        "apple",
        "an Apple device enrollment (Automated Device Enrollment, Apple Business or School Manager)",
        "Check the enrollment program token and the enrollment profile in Intune > Devices > iOS/iPadOS or macOS.",
        "https://learn.microsoft.com/intune/intune-service/enrollment/device-enrollment-program-enroll-ios",
        frozenset(
            {
                "apple",
                "ios",
                "ipados",
                "ipad",
                "ipads",
                "iphone",
                "iphones",
                "macos",
                "mac",
                "macs",
                "macbook",
                "macbooks",
                "dep",
            }
        ),
        gated("automated device enrollment", "apple business manager", "apple school manager", "apple configurator"),
    ),
    Lookalike(
        "knox",
        "a Samsung Knox Mobile Enrollment problem",
        "Check the Knox Mobile Enrollment profile and the devices' reseller upload in the Knox portal.",
        "https://learn.microsoft.com/intune/intune-service/enrollment/android-samsung-knox-mobile-enroll",
        frozenset({"knox", "samsung", "kme"}),
    ),
    Lookalike(
        "android",
        "an Android enrollment (zero-touch or Android Enterprise)",
        "Check the zero-touch configuration and the Android Enterprise enrollment profile in Intune.",
        "https://learn.microsoft.com/intune/intune-service/enrollment/android-dedicated-devices-fully-managed-enroll",
        frozenset({"android", "zerotouch"}),
        gated("zero touch", "android enterprise"),
    ),
    Lookalike(
        "security_keys",
        "a security key (FIDO2 / passkey) registration",
        "Security keys are registered per user in Entra ID > Authentication methods, not by a provisioning package.",
        "https://learn.microsoft.com/entra/identity/authentication/how-to-enable-passkey-fido2",
        frozenset({"fido", "yubikey", "yubikeys", "passkey", "passkeys"}),
        gated("security key", "security keys"),
    ),
    Lookalike(
        "autopilot",
        "a Windows Autopilot problem",
        "Look at the Autopilot deployment in Intune > Devices > Monitor > Autopilot deployments, and the Autopilot "
        "troubleshooting FAQ.",
        "https://learn.microsoft.com/autopilot/troubleshooting-faq",
        frozenset({"autopilot", "autopilots", "whiteglove", "oobeidps", "preprovisioning"}),
        gated("white glove", "pre provisioning", "pre provisioned", "self deploying", "enrollment status page"),
    ),
    Lookalike(
        "hello",
        "a Windows Hello for Business problem",
        "Look at the Windows Hello for Business errors during PIN creation.",
        "https://learn.microsoft.com/windows/security/identity-protection/hello-for-business/hello-errors-during-pin-creation",
        frozenset({"whfb"}),
        gated("hello for business", "windows hello"),
    ),
    Lookalike(
        "auto_mdm",
        "automatic MDM enrollment through Group Policy or hybrid join (event 76, Auto MDM Enroll)",
        "Check the MDM user scope and the users' UPN suffix; Microsoft's page walks through event 76.",
        TSWIN + "#auto-mdm-enroll-failed",
        frozenset({"gpo", "hybrid"}),
        gated(
            "auto mdm enroll",
            "group policy",
            "event 76",
            "event id 76",
            "automatische MDM-Registrierung",
            "automatische MDM-Anmeldung",
            "registrazione MDM automatica",
            "automatyczne rejestrowanie w oprogramowaniu MDM",
        ),
    ),
    Lookalike(
        "user_import",
        "a bulk user import in Entra ID, not a device enrollment",
        "Open Entra ID > Users > Bulk operation results and download the results file: it names each failed row.",
        "https://learn.microsoft.com/entra/identity/users/users-bulk-add",
        frozenset({"csv"}),
        gated(
            "bulk user import",
            "bulk import users",
            "bulk create users",
            "bulk create",
            "bulk import",
            "bulk upload",
            "bulk operation",
            "bulk operations",
            "import users",
            "bulk add users",
            "bulk invite",
        ),
    ),
    Lookalike(
        "course",
        "enrollment in courses or classes (a learning platform), not device enrollment",
        "That is answered by your learning platform's or student information system's support.",
        None,
        frozenset({"course", "courses", "lms", "canvas", "moodle", "blackboard", "roster", "rosters", "gradebook"}),
        gated("class enrollment", "course enrollment"),
    ),
    Lookalike(
        "messages",
        "bulk messages (email, SMS, reminders), not device enrollment",
        "That is for the support of the tool that sends them.",
        None,
        frozenset(
            {"sms", "email", "emails", "newsletter", "newsletters", "reminder", "reminders", "campaign", "mailing"}
        ),
    ),
    Lookalike(
        "app",
        "an app deployment (a Win32, MSI or MSIX app package), not a provisioning package",
        "Look at the app's installation status in Intune > Apps > the app > Device install status.",
        "https://learn.microsoft.com/troubleshoot/mem/intune/app-management/troubleshoot-app-install",
        frozenset({"msi", "msix", "intunewin", "appx", "lob"}),
        # "Win32" is not a word here (words drop digits: it reads "win"), so it is a phrase, gated by "win".
        PhraseSet(
            (
                *gated("app package", "application package", "app deployment", "app install").phrases,
                Phrase.of("win32", "win"),
            )
        ),
    ),
    Lookalike(
        "personal",
        "enrolling a personal device (bring your own device), not a provisioning package",
        "Personal devices enroll through Settings > Accounts > Access work or school or the Company Portal; check the "
        "user's Intune licence and the enrollment restrictions for personally owned devices.",
        TSWIN,
        frozenset({"byod"}),
        gated(
            "personal laptop",
            "personal device",
            "personal pc",
            "personal computer",
            "personally owned",
            "company portal",
            "access work or school",
            "own laptop",
            "home laptop",
        ),
    ),
)

BY_KEY = {lookalike.key: lookalike for lookalike in LOOKALIKES}

# Codes bulk enrollment does not produce: each says which path it belongs to.
FOREIGN_CODES: dict[str, tuple[str, str]] = {
    "0x80180022": (
        "autopilot",
        "Windows Home cannot use Autopilot (or join Entra ID): the edition must be Pro or higher",
    ),
    "0x801c03f3": (
        "autopilot",
        "Entra ID cannot find the device object (it was deleted); re-register the Autopilot device",
    ),
    "0x800705b4": ("autopilot", "Autopilot self-deploying timed out securing the hardware (TPM 2.0 needed)"),
    "0x801c044d": (
        "hello",
        "the authorization token for Windows Hello for Business carries no device ID (unjoin and rejoin the device)",
    ),
}


_MARKS = frozenset().union(*(x.words for x in LOOKALIKES), *(x.phrases.triggers for x in LOOKALIKES))


def find_lookalike(reading: Reading) -> Lookalike | None:
    if reading.words.isdisjoint(_MARKS):
        return None
    for lookalike in LOOKALIKES:
        if not reading.words.isdisjoint(lookalike.words) or lookalike.phrases.find(reading):
            return lookalike
    return None


def for_code(code: str) -> Lookalike | None:
    entry = FOREIGN_CODES.get(code)
    if entry is None:
        return None
    key, meaning = entry
    base = BY_KEY[key]
    return Lookalike(base.key, base.what, base.advice, base.link, code=code, meaning=meaning)


def enrollment_code(code: str, meaning: str) -> Lookalike:
    """A Windows enrollment code on its own, with nothing that says a provisioning package was involved."""
    return Lookalike(
        "code",
        "a Windows enrollment error",
        "If it came from applying a provisioning package, press Diagnose; otherwise Microsoft's page lists the "
        "Windows enrollment errors.",
        TSWIN,
        code=code,
        meaning=meaning,
    )
