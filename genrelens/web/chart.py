"""A chart drawn straight into pixels with Pillow: a title, axes with ticks and labels, the plot and a colour bar.

It draws what one ``matplotlib`` axes (plus ``fig.colorbar(pad=0.01)``) under ``tight_layout`` at 100 dpi drew for
the pictures, at a fraction of the cost: the same 1000x320 canvas, the same margins worked out from the labels, the
same DejaVu Sans at 10 pt (the TTF that ships with matplotlib), matplotlib's tick locator and formatter (pure
functions of the range) and its colour maps used as lookup tables. No ``Figure`` is made.

The caller fills the plot box with pixels (``Chart.plot`` says how many); ``Chart.png`` adds the rest.
"""
from __future__ import annotations

import functools
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1000, 320
_PT = 100 / 72  # pixels per point at 100 dpi
FONT_PX = 10 * _PT  # matplotlib's default 10-pt text
FONT_PATH = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
PAD = 1.08 * FONT_PX  # tight_layout's margin around everything
TICK_LENGTH, TICK_PAD, LABEL_PAD, TITLE_PAD = 3.5 * _PT, 3.5 * _PT, 4 * _PT, 6 * _PT
BAR_FRACTION, BAR_PAD, BAR_ASPECT = 0.15, 0.01, 20  # fig.colorbar's defaults (pad as the pictures set it)
TICK_STEPS = [1, 2, 2.5, 5, 10]  # matplotlib's AutoLocator
INK = np.array([0, 0, 0], np.uint8)
FRINGE = np.array([241, 241, 241], np.uint8)  # the anti-aliased edge of matplotlib's 0.8-pt lines
TICK_TIP = np.array([127, 127, 127], np.uint8)  # a tick's last pixel, partly covered (3.5 pt is 4.86 px)
WHITE = 255
PNG_COMPRESSION = 1  # zlib's fastest: half the encoding time of the default 6, files a few per cent larger
# A line of text as matplotlib lays it out (its box of "lp" in this font and size): the margins follow from it.
ASCENT, DESCENT = 11.0, 3.34
LINE = ASCENT + DESCENT

_thread = threading.local()


def _font() -> ImageFont.FreeTypeFont:
    """This thread's font: a FreeType face may be used by one thread at a time."""
    font = getattr(_thread, "font", None)
    if font is None:
        font = _thread.font = ImageFont.truetype(str(FONT_PATH), FONT_PX, layout_engine=ImageFont.Layout.BASIC)
    return font


@dataclass(frozen=True)
class Scale:
    """A data range along one side of the plot, and its label."""

    low: float
    high: float
    label: str


@dataclass(frozen=True)
class ColourBar:
    """The colour bar beside an image: the values at its ends and the colour map's name."""

    low: float
    high: float
    colour_map: str


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels, edges inclusive: the frame lines lie on them."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1


def widened(low: float, high: float) -> tuple[float, float]:
    """A range of one value widened 10% each way (to +-0.1 around zero), as matplotlib's axes and colour bars do."""
    if high > low:
        return low, high
    if low == high == 0:
        return -0.1, 0.1
    return low - 0.1 * abs(low), high + 0.1 * abs(high)


def ticks(low: float, high: float, length_px: float, label_px: float) -> tuple[list[float], list[str]]:
    """matplotlib's ticks and their labels for the range ``low``-``high`` along an axis ``length_px`` long.

    As ``AutoLocator`` with ``nbins='auto'``: as many bins as labels ``label_px`` apart fit, at most 9.
    """
    low, high = widened(low, high)
    bins = int(max(1, min(9, np.floor(length_px / label_px))))
    tolerance = 1e-10 * (high - low)
    values = [float(v) for v in MaxNLocator(nbins=bins, steps=TICK_STEPS).tick_values(low, high)
              if low - tolerance <= v <= high + tolerance]
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_scientific(False)
    formatter.create_dummy_axis()
    formatter.axis.set_view_interval(low, high)
    return values, formatter.format_ticks(values)


@functools.cache
def colour_table(name: str) -> np.ndarray:
    """matplotlib's colour map ``name`` as 256 RGB rows (its lookup table: the colours stay identical)."""
    table = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
    table = np.round(table * 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def colour_mapped(values: np.ndarray, low: float, high: float, name: str) -> np.ndarray:
    """RGB pixels of ``values`` between ``low`` and ``high`` as matplotlib's ``Normalize`` + colour map."""
    table = colour_table(name)
    if high <= low:
        return table[np.zeros(values.shape, np.intp)]
    index = ((values - low) * (len(table) / (high - low))).astype(np.intp)
    return table[np.clip(index, 0, len(table) - 1)]


def resampled(matrix: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """``matrix`` at ``rows`` x ``columns``: the mean of the cells a pixel covers when shrinking (a thin line is
    never skipped), the nearest cell when growing."""
    matrix = np.asarray(matrix, np.result_type(matrix, np.float32))
    return _resampled_axis(_resampled_axis(matrix, rows, 0), columns, 1)


def _resampled_axis(matrix: np.ndarray, size: int, axis: int) -> np.ndarray:
    n = matrix.shape[axis]
    if n <= size:
        return np.take(matrix, (2 * np.arange(size) + 1) * n // (2 * size), axis=axis)  # the cell under each centre
    starts = np.arange(size) * n // size
    counts = np.diff(np.append(starts, n))
    sums = np.add.reduceat(matrix, starts, axis=axis)
    shape = [1, 1]
    shape[axis] = size
    return sums / counts.reshape(shape)


def band(lows: np.ndarray, highs: np.ndarray, scale: Scale, height: int, colour: tuple[int, int, int],
         per_column: int = 1) -> np.ndarray:
    """RGB pixels, ``height`` x ``len(lows) // per_column``: each slice filled in ``colour`` from its low to its high
    value on white, a pixel's share of colour the part of it covered, over ``per_column`` slices (anti-aliasing)."""
    span = scale.high - scale.low
    top = (scale.high - np.clip(highs, scale.low, scale.high)) / span * height
    bottom = (scale.high - np.clip(lows, scale.low, scale.high)) / span * height
    rows = np.arange(height, dtype=np.float32)[:, None]
    cover = np.clip(np.minimum(rows + 1, bottom[None, :]) - np.maximum(rows, top[None, :]), 0, 1)
    cover = cover.reshape(height, -1, per_column).mean(axis=2)
    white = np.full(3, WHITE, np.float32)
    pixels = white + cover[:, :, None] * (np.asarray(colour, np.float32) - white)
    return np.round(pixels).astype(np.uint8)


Ticks = tuple[list[float], list[str]]  # where the ticks are (in data units) and their labels


@dataclass
class Chart:
    """One picture's frame: where the plot, the colour bar, the ticks and the labels go."""

    title: str
    x: Scale
    y: Scale
    colour_bar: ColourBar | None = None
    plot: Box = field(init=False)
    bar: Box | None = field(init=False, default=None)
    x_ticks: Ticks = field(init=False)
    y_ticks: Ticks = field(init=False)

    def __post_init__(self) -> None:
        font = _font()
        top = PAD + ASCENT + TITLE_PAD  # the title's baseline sits TITLE_PAD above the frame
        bottom = HEIGHT - (PAD + LINE + LABEL_PAD + LINE + TICK_PAD + TICK_LENGTH)
        self.y_ticks = ticks(self.y.low, self.y.high, bottom - top, 2 * FONT_PX)
        left = PAD + LINE + LABEL_PAD + _widest(font, self.y_ticks[1]) + TICK_PAD + TICK_LENGTH
        right_edge = WIDTH - PAD
        if self.colour_bar is None:
            right = self._clear_of_last_label(font, left, right_edge)
        else:  # fig.colorbar takes its share of the axes' room, then keeps its box narrow (BAR_ASPECT)
            slot = right_edge - left
            right = left + (1 - BAR_FRACTION - BAR_PAD) * slot
            bar_left = left + (1 - BAR_FRACTION) * slot
            self.bar = Box(round(bar_left), round(top), round(bar_left + (bottom - top) / BAR_ASPECT), round(bottom))
        self.plot = Box(round(left), round(top), round(right), round(bottom))
        self.x_ticks = ticks(self.x.low, self.x.high, right - left, 3 * FONT_PX)

    def _clear_of_last_label(self, font: ImageFont.FreeTypeFont, left: float, right_edge: float) -> float:
        """The plot's right edge such that the last x tick label, centred on its tick, ends inside the margin."""
        values, labels = ticks(self.x.low, self.x.high, right_edge - left, 3 * FONT_PX)
        if not values:
            return right_edge
        share = (values[-1] - self.x.low) / (self.x.high - self.x.low)  # where the last tick sits, 0..1
        half = font.getlength(labels[-1]) / 2
        if left + share * (right_edge - left) + half <= right_edge:
            return right_edge
        return left + (right_edge - half - left) / share

    def png(self, plot_pixels: np.ndarray) -> bytes:
        """The whole picture as PNG bytes, ``plot_pixels`` (``plot.height`` x ``plot.width`` RGB) in the frame."""
        if plot_pixels.shape != (self.plot.height, self.plot.width, 3):
            raise ValueError(f"plot pixels of shape {plot_pixels.shape}, the frame holds "
                             f"{(self.plot.height, self.plot.width, 3)}")
        canvas = np.full((HEIGHT, WIDTH, 3), WHITE, np.uint8)
        plot = self.plot
        _place(canvas, plot, plot_pixels)
        _frame(canvas, plot)
        x_at = [_along(plot.left, plot.right, self.x, v) for v in self.x_ticks[0]]
        y_at = [_along(plot.bottom, plot.top, self.y, v) for v in self.y_ticks[0]]
        for at in x_at:
            _tick(canvas, at, plot.bottom + 1, vertical=True, step=1)
        for at in y_at:
            _tick(canvas, at, plot.left - 1, vertical=False, step=-1)
        bar_labels: list[tuple[int, str]] = []
        if self.bar is not None and self.colour_bar is not None:
            bar_pixels, bar_labels = self._bar()
            _place(canvas, self.bar, bar_pixels)
            _frame(canvas, self.bar)
            for at, _ in bar_labels:
                _tick(canvas, at, self.bar.right + 1, vertical=False, step=1)
        image = Image.fromarray(canvas, "RGB")
        self._write(image, list(zip(x_at, self.x_ticks[1])), list(zip(y_at, self.y_ticks[1])), bar_labels)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESSION)
        return buffer.getvalue()

    def _bar(self) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """The colour bar's pixels (its colour map from low at the bottom to high at the top) and its labels."""
        bar, scale = self.bar, self.colour_bar
        low, high = widened(scale.low, scale.high)
        rows = high - (np.arange(bar.height) + 0.5) / bar.height * (high - low)
        pixels = colour_mapped(np.repeat(rows[:, None], bar.width, axis=1), low, high, scale.colour_map)
        values, labels = ticks(low, high, bar.height, 2 * FONT_PX)
        return pixels, [(_along(bar.bottom, bar.top, Scale(low, high, ""), v), label)
                        for v, label in zip(values, labels)]

    def _write(self, image: Image.Image, x_labels: list[tuple[int, str]], y_labels: list[tuple[int, str]],
               bar_labels: list[tuple[int, str]]) -> None:
        """The title, the tick labels (at the pixels given) and the axis labels."""
        draw, font, ink = ImageDraw.Draw(image), _font(), (0, 0, 0)
        plot = self.plot
        centre = (plot.left + plot.right) / 2
        draw.text((centre, plot.top - TITLE_PAD), self.title, fill=ink, font=font, anchor="ms")
        labels_top = plot.bottom + 0.5 + TICK_LENGTH + TICK_PAD
        for at, label in x_labels:
            draw.text((at + 0.5, labels_top + ASCENT), label, fill=ink, font=font, anchor="ms")
        draw.text((centre, labels_top + LINE + LABEL_PAD + ASCENT), self.x.label, fill=ink, font=font, anchor="ms")
        labels_right = plot.left + 0.5 - TICK_LENGTH - TICK_PAD
        for at, label in y_labels:  # centred on the tick between baseline and top, as matplotlib does
            draw.text((labels_right, at + 0.5 + ASCENT / 2), label, fill=ink, font=font, anchor="rs")
        upright = _upright_label(self.y.label)  # left of the widest tick label, centred on the plot's height
        y_label_right = labels_right - _widest(font, [label for _, label in y_labels]) - LABEL_PAD
        corner = (round(y_label_right - upright.width), round((plot.top + plot.bottom + 1 - upright.height) / 2))
        image.paste(ink, corner, upright)
        if self.bar is not None:
            labels_left = self.bar.right + 0.5 + TICK_LENGTH + TICK_PAD
            for at, label in bar_labels:
                draw.text((labels_left, at + 0.5 + ASCENT / 2), label, fill=ink, font=font, anchor="ls")


def _widest(font: ImageFont.FreeTypeFont, labels: list[str]) -> float:
    return max((font.getlength(label) for label in labels), default=0.0)


@functools.lru_cache(maxsize=32)
def _upright_label(text: str) -> Image.Image:
    """``text`` as a mask turned to read from bottom to top (cached: a few labels, drawn again and again)."""
    font = _font()
    mask = Image.new("L", (max(1, round(font.getlength(text))), round(LINE)), 0)
    ImageDraw.Draw(mask).text((0, ASCENT), text, fill=255, font=font, anchor="ls")
    return mask.transpose(Image.Transpose.ROTATE_90)


def _along(start: int, end: int, scale: Scale, value: float) -> int:
    """The pixel of ``value`` on an axis running from pixel ``start`` (``scale.low``) to ``end`` (``scale.high``)."""
    return round(start + (value - scale.low) / (scale.high - scale.low) * (end - start))


def _place(canvas: np.ndarray, box: Box, pixels: np.ndarray) -> None:
    canvas[box.top : box.bottom + 1, box.left : box.right + 1] = pixels


def _frame(canvas: np.ndarray, box: Box) -> None:
    """The four spines on the box's edges, with the faint outer fringe matplotlib's 0.8-pt line leaves."""
    canvas[box.top - 1, box.left - 1 : box.right + 2] = FRINGE
    canvas[box.bottom + 1, box.left - 1 : box.right + 2] = FRINGE
    canvas[box.top - 1 : box.bottom + 2, box.left - 1] = FRINGE
    canvas[box.top - 1 : box.bottom + 2, box.right + 1] = FRINGE
    canvas[box.top, box.left : box.right + 1] = INK
    canvas[box.bottom, box.left : box.right + 1] = INK
    canvas[box.top : box.bottom + 1, box.left] = INK
    canvas[box.top : box.bottom + 1, box.right] = INK


def _tick(canvas: np.ndarray, at: int, start: int, vertical: bool, step: int) -> None:
    """A tick mark TICK_LENGTH long from pixel ``start`` outwards (``step`` +1 or -1), in column ``at`` when
    ``vertical``, else in row ``at``."""
    full = int(TICK_LENGTH)
    end = start + step * full  # the last, partly covered pixel
    span = slice(start, end) if step > 0 else slice(end + 1, start + 1)
    if vertical:  # below the frame, in column ``at``
        canvas[span, at - 1] = np.minimum(canvas[span, at - 1], FRINGE)
        canvas[span, at + 1] = np.minimum(canvas[span, at + 1], FRINGE)
        canvas[span, at] = INK
        canvas[end, at] = TICK_TIP
    else:  # beside the frame, in row ``at``
        canvas[at - 1, span] = np.minimum(canvas[at - 1, span], FRINGE)
        canvas[at + 1, span] = np.minimum(canvas[at + 1, span], FRINGE)
        canvas[at, span] = INK
        canvas[at, end] = TICK_TIP
