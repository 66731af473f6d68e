"""Photos of screens, made here: the bulk enrollment error as Windows shows it (the out-of-box screen and
Settings, light and dark) in each language the recogniser knows, other errors, and unrelated screens, rendered
with Debian's Noto fonts and then made to look like a phone photo of a monitor (perspective, blur, glare,
moiré, noise, JPEG). Deterministic for a seed: the tests and `bench/ocr.py` make the same corpus each run.

Run `python -m tests.support.photos --out DIR` to write the corpus as JPEG files to look at.
"""

from __future__ import annotations

import argparse
import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bot.domain.languages import LANGUAGES

ENGLISH_ERROR = "A setup failure has occurred during bulk enrollment."
FONT_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/noto"))
LATIN_FONT = "NotoSans-Regular.ttf"
CJK_FONT = "NotoSansCJK-Regular.ttc"
SCREEN = (1920, 1080)
PHONE = (4032, 3024)  # a 12-megapixel phone camera, landscape


@dataclass(frozen=True)
class Photo:
    name: str
    truth: str  # every line drawn on the screen, in reading order
    error: bool  # shows the bulk enrollment error: the recogniser must start a diagnosis
    language: str
    data: bytes  # JPEG


@dataclass(frozen=True)
class Screen:
    name: str
    title: str
    lines: tuple[str, ...]
    error: bool
    language: str = "English"
    cjk: bool = False


def _font(size: int, cjk: bool) -> ImageFont.FreeTypeFont:
    name = CJK_FONT if cjk else LATIN_FONT
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return ImageFont.truetype(str(folder / name), size)
    raise FileNotFoundError(f"{name} not found: install fonts-noto-core and fonts-noto-cjk (make install-ocr)")


def error_screens() -> list[Screen]:
    """The error in English and in every language whose error text the recogniser knows."""
    screens = [Screen("english", "Something went wrong", (ENGLISH_ERROR,), True)]
    for language in LANGUAGES:
        for i, text in enumerate(language.error_texts):
            cjk = any(ord(ch) > 0x2E80 for ch in text)
            key = language.name.lower().replace(" (", "-").rstrip(")").replace(" ", "-") + (f"-{i + 1}" if i else "")
            screens.append(Screen(key, "", (text + ("。" if cjk else "."),), True, language.name, cjk))
    return screens


OTHER_SCREENS: tuple[Screen, ...] = (
    Screen(
        "autopilot-0x80180022",
        "Something went wrong",
        ("Your device could not be set up with Windows Autopilot.", "Error code: 0x80180022"),
        False,
    ),
    Screen(
        "autopilot-0x801c03f3",
        "Something went wrong",
        ("Autopilot profile was not found for this device.", "Error code: 0x801C03F3"),
        False,
    ),
    Screen(
        "hello-0x801c044d",
        "Windows Hello for Business",
        ("Something went wrong and your PIN isn't available.", "Error: 0x801C044D"),
        False,
    ),
    Screen(
        "hybrid-join-event-76",
        "Event Viewer",
        ("Auto MDM Enroll: Failed (Unknown Win32 Error code: 0x8018002b)", "Event ID 76 DeviceManagement"),
        False,
    ),
    Screen("update", "Windows Update", ("You're up to date", "Last checked: Today, 09:41"), False),
    Screen("network", "Let's connect you to a network", ("You'll need an internet connection to continue.",), False),
    Screen(
        "office", "Microsoft 365 Apps", ("Something went wrong. We couldn't install Office.", "Code 30088-4"), False
    ),
    Screen(
        "company-portal",
        "Company Portal",
        ("Couldn't enroll this device. Your organization doesn't allow it.", "Error code: 0x80180014"),
        False,
    ),
    Screen("activation", "Activation", ("We can't activate Windows on this device.", "Error code: 0xC004F074"), False),
    Screen("bitlocker", "BitLocker recovery", ("Enter the recovery key for this drive", "Key ID: 5A1C2B3D"), False),
    Screen(
        "teams-sign-in",
        "Microsoft Teams",
        ("We couldn't sign you in. Please try again.", "Error code: caa70004"),
        False,
    ),
    Screen("wifi", "Wi-Fi", ("Connected, secured", "Contoso-Guest", "Properties"), False),
    # Near misses in the East Asian languages: other errors of the same troubleshooting page, as its localized
    # editions word them (memdocs.ja-jp (v-makya/...), memdocs.ko-kr (eltociear/...), memdocs.zh-cn (qcyb/...),
    # intune/enrollment/troubleshoot-windows-enrollment-errors.md). Several share most of the error's sentence
    # ("…中に…エラーが発生しました", "…오류가 발생했습니다", "注册…失败"), so a fuzzy match must not take them.
    Screen(
        "japanese-autopilot-profile",
        "",
        ("問題が発生しました。", "Autopilot プロファイルの作成中にエラーが発生しました。"),
        False,
        "Japanese",
        True,
    ),
    Screen(
        "japanese-0x80180014",
        "",
        ("問題が発生しました。", "組織がこのバージョンの Windows をサポートしていません。", "(0x80180014)"),
        False,
        "Japanese",
        True,
    ),
    Screen(
        "korean-autopilot-profile",
        "",
        ("Autopilot 프로필을 만드는 동안 오류가 발생했습니다.",),
        False,
        "Korean",
        True,
    ),
    Screen(
        "korean-already-enrolled",
        "",
        (
            "오류가 발생했습니다. 디바이스가 이미 등록되어 있습니다.",
            "시스템 관리자에게 오류 코드(8018000a)를 알리고 문의하세요.",
        ),
        False,
        "Korean",
        True,
    ),
    Screen(
        "chinese-mobile-management",
        "",
        ("注册设备以进行移动管理（失败：3，0x801C03EA）。",),
        False,
        "Chinese (Simplified)",
        True,
    ),
    Screen("chinese-autopilot-profile", "", ("创建 Autopilot 配置文件时出错。",), False, "Chinese (Simplified)", True),
)


def _render(screen: Screen, layout: str, theme: str) -> tuple[Image.Image, str]:
    dark = theme == "dark"
    background, ink, subtle = ((32, 32, 32), (255, 255, 255), (200, 200, 200))
    if not dark:
        background, ink, subtle = ((243, 243, 243), (27, 27, 27), (96, 96, 96))
    image = Image.new("RGB", SCREEN, background)
    draw = ImageDraw.Draw(image)
    drawn: list[str] = []
    body = _font(34, screen.cjk)
    heading = _font(56, screen.cjk)
    if layout == "oobe":  # Windows 11 out-of-box: a centred panel, the message in the middle, one button
        panel = (260, 140, 1660, 940)
        draw.rounded_rectangle(panel, 16, fill=(44, 44, 44) if dark else (255, 255, 255))
        y = 300
        if screen.title:
            draw.text((360, y), screen.title, font=heading, fill=ink)
            drawn.append(screen.title)
            y += 110
        for line in screen.lines:
            draw.text((360, y), line, font=body, fill=ink)
            drawn.append(line)
            y += 60
        draw.rounded_rectangle((1380, 830, 1600, 890), 6, fill=(0, 95, 184))
    else:  # Settings > Accounts > Access work or school: navigation on the left, an error bar on the right
        draw.rectangle((0, 0, 420, SCREEN[1]), fill=(40, 40, 40) if dark else (238, 238, 238))
        for i in range(8):
            draw.rounded_rectangle((40, 180 + i * 70, 70, 210 + i * 70), 4, fill=subtle)
            draw.rounded_rectangle((90, 188 + i * 70, 90 + 120 + (i * 37) % 140, 202 + i * 70), 4, fill=subtle)
        if screen.title:
            draw.text((480, 60), screen.title, font=heading, fill=ink)
            drawn.append(screen.title)
        bar = (480, 200, 1860, 200 + 80 + 60 * len(screen.lines))
        draw.rounded_rectangle(bar, 8, fill=(68, 39, 38) if dark else (253, 231, 233))
        y = 240
        for line in screen.lines:
            draw.text((540, y), line, font=body, fill=ink)
            drawn.append(line)
            y += 60
        for i in range(4):
            draw.rounded_rectangle(
                (480, 480 + i * 90, 1860, 550 + i * 90), 6, fill=(45, 45, 45) if dark else (251, 251, 251)
            )
    return image, "\n".join(drawn)


def _perspective(size: tuple[int, int], rng: random.Random) -> tuple[float, ...]:
    """Coefficients mapping the output (the photo) to the input (the screen) for a camera a little off axis."""
    w, h = size
    jitter = lambda: rng.uniform(0.02, 0.08)  # noqa: E731
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [
        (w * jitter(), h * jitter()),
        (w * (1 - jitter()), h * jitter()),
        (w * (1 - jitter()), h * (1 - jitter())),
        (w * jitter(), h * (1 - jitter())),
    ]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return tuple(_solve(rows, rhs))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                factor = m[r][col] / m[col][col]
                m[r] = [x - factor * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def photograph(screen: Image.Image, rng: random.Random, size: tuple[int, int] = PHONE) -> bytes:
    """A phone photo of a monitor showing `screen`: the monitor fills most of the frame, seen a little off axis,
    slightly out of focus, with a glare spot, moiré from the pixel grid, sensor noise and JPEG compression."""
    w, h = size
    framed = Image.new("RGB", (int(SCREEN[0] * 1.12), int(SCREEN[1] * 1.16)), (12, 12, 14))  # the bezel
    framed.paste(screen, ((framed.width - SCREEN[0]) // 2, (framed.height - SCREEN[1]) // 2))
    photo = framed.resize((w, h), Image.Resampling.BILINEAR)
    photo = photo.transform(
        (w, h),
        Image.Transform.PERSPECTIVE,
        _perspective((w, h), rng),
        Image.Resampling.BILINEAR,
        fillcolor=(70, 60, 50),
    )
    # Moiré: a faint interference pattern of the camera's sensor against the monitor's pixel grid.
    period, angle = rng.uniform(9, 17), rng.uniform(0, math.pi)
    small = (w // 8, h // 8)
    pattern = Image.new("L", small)
    pattern.putdata(
        [
            int(128 + 127 * math.sin((x * math.cos(angle) + y * math.sin(angle)) * 8 / period))
            for y in range(small[1])
            for x in range(small[0])
        ]
    )
    pattern = pattern.resize((w, h), Image.Resampling.BILINEAR)
    photo = Image.composite(photo, Image.new("RGB", (w, h), (128, 128, 128)), pattern.point(lambda v: 255 - v // 12))
    # Glare: a soft bright spot where a window or lamp reflects on the screen.
    glare = Image.new("L", small, 0)
    gx, gy, radius = (
        rng.uniform(0.2, 0.8) * small[0],
        rng.uniform(0.2, 0.8) * small[1],
        rng.uniform(0.1, 0.25) * small[0],
    )
    ImageDraw.Draw(glare).ellipse((gx - radius, gy - radius, gx + radius, gy + radius), fill=rng.randint(70, 120))
    glare = glare.filter(ImageFilter.GaussianBlur(radius / 2)).resize((w, h), Image.Resampling.BILINEAR)
    photo = Image.composite(Image.new("RGB", (w, h), (255, 255, 250)), photo, glare)
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.6) * w / 4032))
    noise = Image.frombytes("L", small, rng.randbytes(small[0] * small[1])).resize((w, h), Image.Resampling.NEAREST)
    photo = Image.blend(photo, Image.merge("RGB", (noise, noise, noise)), rng.uniform(0.03, 0.07))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=rng.randint(72, 88))
    return out.getvalue()


def corpus(seed: int = 20, size: tuple[int, int] = PHONE, only: set[str] | None = None) -> Iterator[Photo]:
    """Every error screen in both layouts and themes, and every other screen in both layouts (a theme drawn for
    each), photographed.
    `only` picks screens by name (e.g. {"english", "german"}) for a short run."""
    rng = random.Random(seed)
    layouts = [(layout, theme) for layout in ("oobe", "settings") for theme in ("light", "dark")]
    for screen in (*error_screens(), *OTHER_SCREENS):
        chosen = layouts if screen.error else [layouts[rng.randrange(2)], layouts[2 + rng.randrange(2)]]
        for layout, theme in chosen:
            shot_rng = random.Random(rng.random())
            if only is not None and screen.name not in only:
                continue
            image, truth = _render(screen, layout, theme)
            yield Photo(
                f"{screen.name}-{layout}-{theme}",
                truth,
                screen.error,
                screen.language,
                photograph(image, shot_rng, size),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for photo in corpus(args.seed):
        (args.out / f"{photo.name}.jpg").write_bytes(photo.data)
        print(photo.name, len(photo.data))


if __name__ == "__main__":
    main()
