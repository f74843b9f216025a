"""Report pages: one paper size for every page (A4, or US Letter where the locale uses it), text
laid out by measuring each line with the renderer (nothing overlaps, nothing runs off the page, a
full page continues on the next), and figures placed on pages of that size at their own proportions.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.errors import PneumoscopeError

PNEUMONIA_COLOUR = "#c0392b"
A4_PORTRAIT = (8.27, 11.69)
LETTER_PORTRAIT = (8.5, 11.0)
PAPER_SIZES = {"a4": A4_PORTRAIT, "letter": LETTER_PORTRAIT}
# Territories that use US Letter (the rest of the world uses A4), as in glibc's LC_PAPER data.
LETTER_TERRITORIES = frozenset({"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PA", "SV", "NI", "DO",
                                "PR", "BZ"})


class ReportError(PneumoscopeError):
    """A report file could not be written (message says where and why)."""


def default_paper() -> str:
    """"letter" where the user's locale uses US Letter, else "a4" (the rest of the world).

    Read from LC_PAPER / LC_ALL / LANG as the C library would, then from Python's locale.
    """
    import locale

    names = [os.environ.get(v, "") for v in ("LC_ALL", "LC_PAPER", "LANG")]
    with contextlib.suppress(ValueError, TypeError):
        names.append(locale.getlocale()[0] or "")
    for name in names:
        code = name.split(".")[0].split("@")[0]
        if code in ("", "C", "POSIX"):
            continue
        territory = code.replace("-", "_").split("_")[-1].upper() if "_" in code or "-" in code else ""
        return "letter" if territory in LETTER_TERRITORIES else "a4"
    return "a4"


def paper_size(paper: str | None) -> tuple[float, float]:
    """Portrait page size in inches for "a4", "letter" or None/"auto" (from the locale)."""
    key = default_paper() if paper in (None, "", "auto") else str(paper).lower()
    if key not in PAPER_SIZES:
        raise ReportError(f"Unknown paper size {paper!r}: use a4, letter or auto.")
    return PAPER_SIZES[key]


def _page(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)  # an Agg canvas so text can be measured and saved without pyplot
    return fig


FOOTER = "Pneumoscope - research use only - not for diagnostic use"
LEFT, VALUE_X, RIGHT, BOTTOM = 0.07, 0.42, 0.93, 0.05


class _TextPages:
    """Lays text out top to bottom on pages of one paper size, measuring every line with the
    renderer so nothing runs into its neighbour or off the page, and starting a new page when
    one is full."""

    def __init__(self, title: str, paper: tuple[float, float]) -> None:
        self.title, self.paper = title, paper
        self.pages: list[Figure] = []
        self._new_page()

    def _new_page(self) -> None:
        fig = _page(self.paper)
        title = self.title if not self.pages else f"{self.title} (continued)"
        fig.text(LEFT, 0.95, title, fontsize=15, weight="bold", va="top")
        fig.text(0.5, 0.02, FOOTER, ha="center", fontsize=7, color="grey")
        self.pages.append(fig)
        self.fig, self.y = fig, 0.90
        self.renderer = fig.canvas.get_renderer()

    def _room(self, height: float) -> None:
        if self.y - height < BOTTOM:
            self._new_page()

    def wrap(self, text: str, width: float, **font: Any) -> list[str]:
        """Greedy word wrap of ``text`` to ``width`` (figure fraction) in the given font."""
        from matplotlib.font_manager import FontProperties

        prop = FontProperties(size=font.get("fontsize", 9), weight=font.get("weight", "normal"),
                              family=font.get("family", "sans-serif"))
        limit = width * self.fig.bbox.width

        def fits(s: str) -> bool:
            return self.renderer.get_text_width_height_descent(s, prop, ismath=False)[0] <= limit

        def pieces(word: str) -> list[str]:  # a word wider than the column (a long file name) is cut
            out, piece = [], ""
            for ch in word:
                if piece and not fits(piece + ch):
                    out.append(piece)
                    piece = ""
                piece += ch
            return [*out, piece]

        lines: list[str] = []
        for para in str(text).splitlines() or [""]:
            line = ""
            for word in para.split(" "):
                trial = f"{line} {word}" if line else word
                if fits(trial):
                    line = trial
                    continue
                if line:
                    lines.append(line)
                *full, line = pieces(word)
                lines += full
            lines.append(line)
        return lines

    def line(self, text: str, x: float = LEFT, step: float = 0.018, **font: Any) -> None:
        self._room(step)
        self.fig.text(x, self.y, text, va="top", **font)
        self.y -= step

    def heading(self, text: str) -> None:
        self._room(0.06)
        self.y -= 0.012
        self.line(text, fontsize=12, weight="bold", step=0.03)

    def paragraph(self, text: str, **font: Any) -> None:
        font.setdefault("fontsize", 9)
        for text_line in self.wrap(text, RIGHT - LEFT, **font):
            self.line(text_line, **font)
        self.y -= 0.006

    def table(self, rows: list[tuple[str, str]]) -> None:
        key_w, value_w = VALUE_X - LEFT - 0.02, RIGHT - VALUE_X
        for k, v in rows:
            keys = self.wrap(k, key_w, fontsize=9, weight="bold")
            values = self.wrap(v, value_w, fontsize=9)
            n = max(len(keys), len(values))
            self._room(0.018 * n)
            for i in range(n):
                if i < len(keys):
                    self.fig.text(LEFT, self.y, keys[i], fontsize=9, weight="bold", va="top")
                if i < len(values):
                    self.fig.text(VALUE_X, self.y, values[i], fontsize=9, va="top")
                self.y -= 0.018
        self.y -= 0.008

    def pre(self, text: str) -> None:
        for text_line in text.splitlines():
            self.line(text_line, fontsize=8.5, family="monospace", step=0.016)
        self.y -= 0.008


def text_pages(title: str, blocks: list[tuple[str, Any]], paper: tuple[float, float] = A4_PORTRAIT) -> list[Figure]:
    """Portrait pages of text. blocks: ("h", str) heading, ("p", str) paragraph,
    ("kv", [(k, v)]) table, ("pre", str) monospace block, ("warn", str) highlighted line."""
    out = _TextPages(title, paper)
    for kind, content in blocks:
        if kind == "h":
            out.heading(content)
        elif kind == "warn":
            out.paragraph(content, fontsize=11, weight="bold", color=PNEUMONIA_COLOUR)
        elif kind == "p":
            out.paragraph(content)
        elif kind == "kv":
            out.table(content)
        elif kind == "pre":
            out.pre(content)
    return out.pages


def figure_page(caption: str, fig: Figure, paper: tuple[float, float]) -> Figure:
    """Put a figure on a page of the report's paper size: its plots keep their proportions (laid
    out by the constrained engine inside a box under the caption), the text keeps its point size."""
    natural_w, natural_h = fig.get_size_inches()
    page_w, page_h = paper
    scale = min((page_w - 1.5) / natural_w, (page_h * 0.62) / natural_h, 1.35)
    w, h = natural_w * scale, natural_h * scale
    fig.set_size_inches(page_w, page_h)
    top = 1.25  # inches for the caption
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.set(rect=((page_w - w) / 2 / page_w, (page_h - top - h) / page_h, w / page_w, h / page_h))
    fig.text(LEFT, 0.95, caption, fontsize=15, weight="bold", va="top")
    fig.text(0.5, 0.02, FOOTER, ha="center", fontsize=7, color="grey")
    return fig
