"""Draw the Teams app icons: colour 192x192 and outline 32x32 (white on transparent). Run once; PNGs are committed."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "manifest"
BLUE = (15, 108, 189, 255)
WHITE = (255, 255, 255, 255)


def draw(size: int, background: tuple[int, int, int, int] | None, antialias: bool) -> Image.Image:
    scale = 4 if antialias else 1
    s = size * scale
    image = Image.new("RGBA", (s, s), background or (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    u = s / 32  # drawing unit: the 32-pixel grid
    pad = 6 * u if background else 0  # the colour icon keeps the symbol inside a padded square

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        span = (s - 2 * pad) / 32
        return [pad + x0 * span, pad + y0 * span, pad + x1 * span, pad + y1 * span]

    # A laptop: screen outline and base.
    pen.rectangle(box(4, 5, 28, 22), outline=WHITE, width=max(1, round(2 * u * (s - 2 * pad) / s)))
    pen.rectangle(box(1, 24, 31, 27), fill=WHITE)
    # A medical cross on the screen: the doctor.
    pen.rectangle(box(14, 8, 18, 19), fill=WHITE)
    pen.rectangle(box(10.5, 11.5, 21.5, 15.5), fill=WHITE)
    if antialias:
        image = image.resize((size, size), Image.LANCZOS)
    return image


def main() -> None:
    draw(192, BLUE, antialias=True).save(OUT / "color.png")
    drawn = draw(32, None, antialias=False)
    # Outline icons are pure white on full transparency: no other colours, no partial alpha.
    alpha = drawn.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
    outline = Image.new("RGBA", drawn.size, (255, 255, 255, 0))
    outline.putalpha(alpha)
    outline.save(OUT / "outline.png")


if __name__ == "__main__":
    main()
