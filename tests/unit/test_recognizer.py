"""Recognition of the bulk enrollment failure, measured on a labelled corpus, and extraction of clues."""

from __future__ import annotations

from bot.domain.recognizer import Intent, extract_device_name, extract_error_codes, extract_package_guids, recognize
from tests.unit.recognizer_corpus import NEGATIVE, POSITIVE

MIN_RECALL = 0.95
MIN_PRECISION = 0.97


def test_corpus_is_large_enough():
    assert len(POSITIVE) >= 100
    assert len(NEGATIVE) >= 100


def test_recall_and_precision_on_the_corpus():
    true_positive = [m for m in POSITIVE if recognize(m).intent is Intent.DIAGNOSE]
    false_negative = [m for m in POSITIVE if m not in true_positive]
    false_positive = [m for m in NEGATIVE if recognize(m).intent is Intent.DIAGNOSE]
    recall = len(true_positive) / len(POSITIVE)
    precision = len(true_positive) / (len(true_positive) + len(false_positive))
    print(f"\nrecognizer: recall {recall:.3f} ({len(true_positive)}/{len(POSITIVE)}), precision {precision:.3f}")
    print("missed:", false_negative)
    print("false alarms:", false_positive)
    assert recall >= MIN_RECALL, false_negative
    assert precision >= MIN_PRECISION, false_positive


def test_commands():
    assert recognize("help").intent is Intent.HELP
    assert recognize("Hello!").intent is Intent.HELP
    assert recognize("diagnose").intent is Intent.DIAGNOSE
    assert recognize("alerts on").intent is Intent.ALERTS_ON
    assert recognize("use this channel for approvals").intent is Intent.USE_CHANNEL
    assert recognize("").intent is Intent.UNKNOWN


def test_extracts_codes_accounts_and_device():
    text = (
        "Bulk enrollment failed on DESKTOP-7h2k9: 0x801C0003 then 80180014. Account "
        "package_3F2A9C41-7d0e-4b8a-9c55-1e2f3a4b5c6d@contoso.onmicrosoft.com"
    )
    result = recognize(text)
    assert result.intent is Intent.DIAGNOSE
    assert result.error_codes == ("0x801c0003", "0x80180014")
    assert result.package_guids == ("3f2a9c41-7d0e-4b8a-9c55-1e2f3a4b5c6d",)
    assert result.device_name == "DESKTOP-7H2K9"


def test_extractors_on_their_own():
    assert extract_error_codes("no codes here, just 12345678") == ()
    assert extract_error_codes("0x8007064c and 0x8007064C") == ("0x8007064c",)
    assert extract_package_guids("package_not-a-guid") == ()
    assert extract_device_name("Device name: LAB-PC-014") == "LAB-PC-014"
    assert extract_device_name("computer name = kiosk7") == "KIOSK7"
    assert extract_device_name("the device is fine") is None


def test_a_huge_paste_is_handled():
    paste = ("noise line with nothing useful\n" * 5000) + "A setup failure has occurred during bulk enrollment."
    assert recognize(paste).intent is Intent.DIAGNOSE
    assert (
        recognize("A setup failure has occurred during bulk enrollment.\n" + "noise " * 20000).intent is Intent.DIAGNOSE
    )
