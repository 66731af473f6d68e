"""The bulk enrollment error and its keywords in the languages Windows is used in, each with where it comes from.

Every string is a `Phrase` (see `bot.domain.reading`): matched squashed, so spaces, hyphens, line breaks and
diacritics do not matter. Failure words are matched as whole words when they are a single Latin word.

Sources (the README's "Languages" table repeats them):
- ERROR TEXT: the heading of the section "A setup failure has occurred during bulk enrollment." (anchor
  `a-setup-failure-has-occurred-during-bulk-enrollment`) in Microsoft's localized "Troubleshoot Windows device
  enrollment problems in Microsoft Intune" page (memdocs `intune/enrollment/troubleshoot-windows-enrollment-errors.md`,
  localized editions memdocs.de-de, .es-es, .it-it, .nl-nl, .pt-pt, .sv-se, .ja-jp, .cs-cz, .zh-cn and the
  pl-pl edition; community-kept copies memdocs.ko-kr, .ru-ru, .zh-tw (eltociear/…) and .tr-tr (yalansu/…); and
  the page's earlier home, Microsoft's IntuneDocs repositories, `intune/troubleshoot-windows-enrollment-errors.md`
  in IntuneDocs.fr-fr, .hu-hu and .pt-br). These are Microsoft's translations of the message; Windows' own
  resource string was not available here (no language pack to read), so where the two differ the documentation's
  wording is what we have. Several editions exist in two revisions (machine translation first, then edited);
  both are listed.
- KEYWORDS: the localized Microsoft Learn pages for bulk enrollment (`windows-bulk-enroll`,
  `bulk-enrollment-using-windows-provisioning-tool`), which name "bulk enrollment" and "provisioning package";
  for the languages added from the community-kept and IntuneDocs copies, their `windows-bulk-enroll.md` in the
  same repository (the forms listed are those the pages use).
- FAILURE WORDS of those added languages: words of the same two pages ("error", "failure", "failed", "cannot" as
  the pages write them), so nothing is translated here.
- Not found: Danish, Finnish, Norwegian and Greek (no localized edition of either page in the docs index or the
  stored pages), so they are not recognised by their own words.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.reading import Phrase, Reading, any_phrase, fold, phrases


@dataclass(frozen=True)
class Language:
    name: str
    error_texts: tuple[str, ...]
    bulk: tuple[str, ...]
    package: tuple[str, ...]
    failure: tuple[str, ...]
    common: str = ""  # frequent short words of the language (none of them English): a message is searched for
    # the language's keywords only when it has one of these, a failure word or a keyword as a whole word


LANGUAGES: tuple[Language, ...] = (
    Language(
        "German",
        ("Setupfehler bei der Massenregistrierung", "Bei der Massen Registrierung ist ein Setup Fehler aufgetreten"),
        ("Massenregistrierung", "Massen Registrierung"),
        ("Bereitstellungspaket", "Bereitstellungs Paket"),
        ("Fehler", "fehlgeschlagen", "schlägt fehl", "funktioniert nicht", "klappt nicht", "geht nicht"),
        "der das und ist nicht bei mit ein eine einem wird werden wurde konnte auf",
    ),
    Language(
        "French",
        ("Une erreur d'installation s'est produite lors de l'inscription en bloc",),
        ("inscription en bloc", "inscriptions en bloc"),
        ("package d'approvisionnement", "package de mise en service"),
        (
            "erreur",
            "échec",
            "échoue",
            "échoué",
            "ne fonctionne pas",
            "ne fonctionne plus",
            "ne marche pas",
            "ne marche plus",
            "impossible",
        ),
        "le la les des est une pas pour avec lors du sur ne bloc depuis",
    ),
    Language(
        "Spanish",
        ("Error de instalación durante la inscripción masiva",),
        ("inscripción masiva",),
        ("paquete de aprovisionamiento",),
        ("error", "falla", "fallo", "fallido", "falló", "no funciona"),
        "el los las del una por para con es se al durante",
    ),
    Language(
        "Italian",
        ("Si è verificato un errore durante l'installazione durante la registrazione in blocco",),
        ("registrazione in blocco",),
        ("pacchetto di provisioning",),
        ("errore", "non funziona", "non riesce", "fallito", "fallita", "fallisce", "non riuscita"),
        "il di che non per della durante gli si una",
    ),
    Language(
        "Dutch",
        ("Er is een fout opgetreden tijdens de bulk registratie",),
        ("bulk registratie",),
        ("inrichtingspakket", "inrichtings pakket"),
        ("fout", "foutmelding", "mislukt", "werkt niet"),
        "het een van niet bij tijdens met wordt werd",
    ),
    Language(
        "Portuguese",
        ("Ocorreu uma falha de configuração durante a matrícula a granel",),
        ("matrícula a granel",),
        ("pacote de provisionamento", "pacote de aprovisionamento"),
        ("erro", "falha", "falhou", "não funciona"),
        "os uma nao para com em durante foi",
    ),
    Language(
        "Polish",
        ("Wystąpił błąd konfiguracji podczas rejestracji zbiorczej",),
        ("rejestracji zbiorczej", "rejestracja zbiorcza", "zbiorcza rejestracja", "zbiorczej rejestracji"),
        ("pakiet aprowizacyjn", "pakietu aprowizacyjn"),
        ("błąd", "błędu", "błędem", "nie działa", "niepowodzenie", "nie powiodła", "nie udało"),
        "nie sie jest na podczas dla przy",
    ),
    Language(
        "Swedish",
        ("Ett installations fel uppstod under Mass registreringen",),
        ("Massregistrering", "Mass registreringen"),
        ("etableringspaket", "etablerings paket"),
        ("fel", "felet", "misslyckades", "fungerar inte"),
        "och det inte ett ar pa av med vid",
    ),
    Language(
        "Japanese",
        ("一括登録中にセットアップ エラーが発生しました",),
        ("一括登録",),
        ("プロビジョニング パッケージ",),
        ("エラー", "失敗", "できません"),
    ),
    Language(
        "Czech",
        ("Při hromadné registraci došlo k chybě instalace",),
        ("hromadné registraci", "hromadná registrace"),
        ("zřizovací balíček", "zřizovacího balíčku"),
        ("chyba", "chybě", "nefunguje", "selhala", "selhalo"),
        "je se na pri nelze",
    ),
    Language(
        "Chinese (Simplified)",
        ("大容量注册期间发生了设置失败", "批量注册过程中发生了安装失败"),
        ("大容量注册", "批量注册"),
        ("设置包", "预配包"),
        ("失败", "错误"),
    ),
    Language(
        "Chinese (Traditional)",
        ("大量註冊期間發生安裝程式失敗",),
        ("大量註冊",),
        ("佈建套件", "布建套件"),
        ("失敗", "錯誤", "無法"),
    ),
    Language(
        "Korean",
        ("대량 등록 중에 설치 실패가 발생했습니다",),
        ("대량 등록",),
        ("프로비전 패키지", "프로비저닝 패키지"),
        ("오류", "실패", "할 수 없"),
    ),
    Language(
        "Russian",
        ("Во время выполнения массовой регистрации произошел сбой установки",),
        ("массовая регистрация", "массовой регистрации", "массовую регистрацию"),
        ("пакет подготовки", "пакета подготовки"),
        ("ошибк", "сбой", "не удается"),
    ),
    Language(
        "Turkish",
        ("Toplu kayıt sırasında bir kurulum hatası oluştu",),
        ("toplu kayıt", "toplu kaydet"),
        ("sağlama paket",),
        ("hata", "hatası", "başarısız"),
        "bir ve bu ile icin olarak sonra sirasinda degil",
    ),
    Language(
        "Hungarian",
        ("Telepítési hiba történt a csoportos regisztráció során",),
        ("csoportos regisztráció", "csoportos regisztrálás"),
        ("kiépítési csomag",),
        ("hiba", "sikertelen", "meghiúsult"),
        "az es nem egy hogy meg van ez ha",
    ),
    Language(
        "Portuguese (Brazil)",
        ("Ocorreu uma falha na instalação durante o registro em massa",),
        ("registro em massa",),
        ("pacote de provisionamento",),
        ("erro", "falha", "com falha"),
        "os uma nao para com em durante foi",
    ),
)

# Words the languages share with English (or with host names): no evidence of a language.
_ENGLISH = frozenset({"error", "com", "pro", "no", "not", "fail"})


@dataclass(frozen=True)
class Prepared:
    """One language's strings as phrases, ready to look for in a reading."""

    name: str
    gate: frozenset[str]
    error_texts: tuple[Phrase, ...]
    keywords: tuple[Phrase, ...]
    failure_words: frozenset[str]
    failure_phrases: tuple[Phrase, ...]


def _prepare(language: Language) -> Prepared:
    words: set[str] = set()
    multi: list[str] = []
    for failure in language.failure:
        folded = fold(failure.lower())
        # a short single word is matched whole; a longer one also inside compounds ("Setupfehler")
        (words.add(folded) if folded.isascii() and " " not in folded and len(folded) < 5 else multi.append(failure))
    keywords = phrases(*language.bulk, *language.package)
    gate = (frozenset(language.common.split()) | words | {k.squashed for k in keywords}) - _ENGLISH
    return Prepared(
        language.name,
        gate,
        phrases(*language.error_texts),
        keywords,
        frozenset(words),
        phrases(*multi),
    )


PREPARED: tuple[Prepared, ...] = tuple(_prepare(language) for language in LANGUAGES)


def keyword_language(reading: Reading) -> Prepared | None:
    """The language whose "bulk enrollment" or "provisioning package" keyword the message carries."""
    for language in PREPARED:
        if (not reading.ascii or not reading.words.isdisjoint(language.gate)) and any_phrase(
            language.keywords, reading
        ):
            return language
    return None


def error_text_language(reading: Reading, candidate: Prepared | None) -> Prepared | None:
    """The language whose error text the message carries. Every error text holds its language's keyword, so
    only the language the keywords found is searched, and the scripts without spaces."""
    for language in PREPARED:
        if (language is candidate or not reading.ascii) and any_phrase(language.error_texts, reading):
            return language
    return None


def has_failure_word(language: Prepared, reading: Reading) -> bool:
    if not reading.words.isdisjoint(language.failure_words):
        return True
    return any_phrase(language.failure_phrases, reading) is not None
