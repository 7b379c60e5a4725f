"""Small helpers for the sentences skmd prints."""
from __future__ import annotations


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the noun in the number it needs: ``plural(1, "frame")`` → "1 frame", ``plural(2, "copy",
    "copies")`` → "2 copies" (``words`` defaults to ``word + "s"``)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
