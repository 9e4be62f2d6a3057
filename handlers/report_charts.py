"""Report pictures drawn with matplotlib (imported on the first report; the object API on the Agg
canvas, no pyplot state, so drawing may run in a worker thread). Large fonts on a narrow canvas:
read on a phone. Every label is plain text in the reader's language."""

from __future__ import annotations

import io
from collections.abc import Sequence

WIDTH = 7.2  # inches; at 150 dpi a phone shows the picture at full width
DPI = 150
FONT = 13
MAX_HEIGHT = 30.0  # inches
WON, LOST, BLUE, GREY = "#7BD500", "#FF5752", "#39A8EF", "#A8ADB4"


def _figure(height: float):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def funnel_png(
    title: str, labels: Sequence[str], counts: Sequence[int], notes: Sequence[str], lost: int = 0
) -> bytes:
    """Horizontal bars, the first stage on top; each bar's note (count, sum, conversion) beside it.
    The last `lost` stages are the failure ones (red)."""
    fig = _figure(min(MAX_HEIGHT, 1.4 + 0.62 * max(1, len(labels))))
    ax = fig.add_subplot()
    y = list(range(len(labels)))[::-1]
    colors = [BLUE] * (len(labels) - lost) + [LOST] * lost
    ax.barh(y, counts, color=colors, height=0.6)
    ax.set_yticks(y, labels=[_short(label) for label in labels], fontsize=FONT)
    top = max(counts, default=0) or 1
    for yi, count, note in zip(y, counts, notes, strict=True):
        ax.text(count + top * 0.02, yi, note, va="center", fontsize=FONT - 2)
    ax.set_xlim(0, top * 1.9)
    ax.set_xticks([])
    ax.set_title(title, fontsize=FONT + 2, loc="left")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def won_lost_png(title: str, weeks: Sequence[str], won: Sequence[int], lost: Sequence[int],
                 won_label: str, lost_label: str) -> bytes:  # fmt: skip
    """Won and lost side by side per week of the period."""
    fig = _figure(4.6)
    ax = fig.add_subplot()
    x = list(range(len(weeks)))
    ax.bar([i - 0.2 for i in x], won, width=0.4, color=WON, label=won_label)
    ax.bar([i + 0.2 for i in x], lost, width=0.4, color=LOST, label=lost_label)
    for i, (w, lo) in enumerate(zip(won, lost, strict=True)):
        if w:
            ax.text(i - 0.2, w, str(w), ha="center", va="bottom", fontsize=FONT - 2)
        if lo:
            ax.text(i + 0.2, lo, str(lo), ha="center", va="bottom", fontsize=FONT - 2)
    ax.set_xticks(x, labels=weeks, fontsize=FONT - 3, rotation=30 if len(weeks) > 5 else 0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=FONT - 2, frameon=False)
    ax.set_title(title, fontsize=FONT + 1, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def people_png(title: str, names: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]]) -> bytes:
    """Per person, a group of horizontal bars: one per measure (label, colour, values)."""
    # Telegram refuses a photo taller than 20 times its width: many people share the height.
    fig = _figure(min(MAX_HEIGHT, 1.6 + 0.28 * len(series) * max(1, len(names))))
    ax = fig.add_subplot()
    step = 0.8 / max(1, len(series))
    base = list(range(len(names)))[::-1]
    for k, (label, color, values) in enumerate(series):
        ys = [b + 0.4 - step * (k + 0.5) for b in base]
        ax.barh(ys, values, height=step * 0.9, color=color, label=label)
        for yv, v in zip(ys, values, strict=True):
            if v:
                ax.text(v, yv, f" {v}", va="center", fontsize=FONT - 4)
    ax.set_yticks(base, labels=[_short(n) for n in names], fontsize=FONT - 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=FONT - 4, frameon=False, loc="lower right")
    ax.set_title(title, fontsize=FONT + 1, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


SERIES_COLOURS = (BLUE, LOST, "#FFA900", WON)
