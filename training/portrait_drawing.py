"""Draw one genre's portrait from what its train tracks sound like: a flower and its ripples.

The picture is ours and abstract, but every shape in it is a measurement (see ``training.genre_portraits``):

- **petals**: the genre's mean log-mel spectrum against the mean of all genres, one spoke per mel band,
  low bands at the top going clockwise. A spoke reaches past the middle circle where the genre has more
  energy in that band than genres on average (up to +10 dB at the tip), and falls short where it has
  less: bass-heavy music swells at the top and right, bright music at the bottom and left.
- **ripples**: the mean autocorrelation of the onset envelope; the ring at radius r stands for one lag
  (0.1 s at the core to 2 s at the edge) and glows as strongly as the music repeats after that lag,
  with its peaks drawn as bright rings. A steady beat draws evenly spaced rings, free time a faint haze.
- the genre's colour from genres.json, on a dark ground of the same hue.

Only numpy and Pillow, no randomness and no metadata in the PNG, so the same profile always gives the
same bytes (the tests hold it to that).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 256
SCALE = 2  # drawn at twice the size, then shrunk: smooth edges without anti-aliasing calls
FLOOR_DB = -40.0
CONTRAST_DB = 10.0  # a band this much above the genres' mean reaches the petals' tip
CORE = 0.14  # the innermost ripple, as a fraction of the half-width
EDGE = 0.97  # the outermost one
PETAL_MIN, PETAL_MID, PETAL_MAX = 0.18, 0.38, 0.62  # petal radius at -CONTRAST_DB, at the mean, at +CONTRAST_DB
PEAK_SHARE = 0.45  # a pulse peak at least this far up its own range is drawn as a bright ring
PALETTE = 128


@dataclass(frozen=True)
class Profile:
    """What a genre's train tracks sound like on average (``training.genre_portraits.listen``)."""
    slug: str
    name: str
    color: str  # "#rrggbb"
    tracks: int
    files: int
    mel_db: np.ndarray  # mean log-mel spectrum, one value per band, in dB below the loudest band
    pulse: np.ndarray  # mean onset autocorrelation over lags LAG_MIN_S..LAG_MAX_S, 0..1
    pulse_bpm: float  # the strongest pulse between 60 and 180 BPM (``training.genre_portraits.profile``)


def rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _petal_points(contrast_db: np.ndarray, centre: float, half: float) -> list[tuple[float, float]]:
    """The flower's outline: one point per band, smoothed along the circle so petals stay round."""
    t = np.clip(np.nan_to_num(contrast_db) / CONTRAST_DB, -1.0, 1.0)
    reach = np.where(t >= 0, PETAL_MID + (PETAL_MAX - PETAL_MID) * t, PETAL_MID + (PETAL_MID - PETAL_MIN) * t)
    n = len(reach)
    padded = np.concatenate([reach[-2:], reach, reach[:2]])
    smooth = np.convolve(padded, np.array([1, 2, 3, 2, 1]) / 9.0, mode="valid")
    # 4 points per band, linearly between the bands, so the outline is not a coarse polygon
    fine = np.interp(np.arange(n * 4) / 4.0, np.arange(n + 1), np.append(smooth, smooth[0]))
    angles = -np.pi / 2 + 2 * np.pi * np.arange(len(fine)) / len(fine)
    return [(centre + half * r * np.cos(a), centre + half * r * np.sin(a)) for r, a in zip(fine, angles)]


def pulse_shares(pulse: np.ndarray) -> np.ndarray:
    """The pulse stretched to 0..1 over its own range: where it repeats most, whatever the genre's level."""
    p = np.nan_to_num(np.asarray(pulse, dtype=float))
    span = float(p.max() - p.min()) if p.size else 0.0
    return (p - p.min()) / span if span > 1e-9 else np.zeros_like(p)


def peaks(shares: np.ndarray) -> np.ndarray:
    """Indices of the local maxima that stand at least PEAK_SHARE up the range."""
    inner = (shares[1:-1] >= shares[:-2]) & (shares[1:-1] > shares[2:]) & (shares[1:-1] >= PEAK_SHARE)
    return np.flatnonzero(inner) + 1


def draw(profile: Profile, reference_db: np.ndarray) -> bytes:
    """The portrait as PNG bytes, SIZE x SIZE; ``reference_db`` is the genres' mean spectrum (same bands)."""
    big = SIZE * SCALE
    centre, half = big / 2.0, big / 2.0
    colour = rgb(profile.color)
    ground = mix((10, 12, 18), colour, 0.12)
    image = Image.new("RGB", (big, big), ground)

    # ripples: a haze ring per lag, then the peaks as bright rings, softened together
    rings = Image.new("RGB", (big, big), ground)
    pen = ImageDraw.Draw(rings)
    shares = pulse_shares(profile.pulse)
    if shares.size > 2:
        radii = half * (CORE + (EDGE - CORE) * np.arange(shares.size) / (shares.size - 1))
        step = (radii[-1] - radii[0]) / (shares.size - 1)
        for r, share in sorted(zip(radii, shares), reverse=True):
            box = (centre - r, centre - r, centre + r, centre + r)
            pen.ellipse(box, outline=mix(ground, colour, 0.06 + 0.30 * float(share)), width=int(np.ceil(step)) + 1)
        for i in peaks(shares):
            r = radii[i]
            box = (centre - r, centre - r, centre + r, centre + r)
            pen.ellipse(box, outline=mix(ground, colour, 0.35 + 0.6 * float(shares[i])), width=3 * SCALE)
    image.paste(rings.filter(ImageFilter.GaussianBlur(SCALE)))

    # petals: a soft halo, the flower, and a lighter heart
    outline = _petal_points(np.asarray(profile.mel_db) - np.asarray(reference_db), centre, half)
    halo = Image.new("L", (big, big), 0)
    ImageDraw.Draw(halo).polygon(outline, fill=255)
    glow = Image.new("RGB", (big, big), mix(colour, (255, 255, 255), 0.25))
    image.paste(glow, mask=halo.filter(ImageFilter.GaussianBlur(5 * SCALE)).point(lambda v: v * 0.5))
    image.paste(Image.new("RGB", (big, big), colour), mask=halo)
    heart = [(centre + (x - centre) * 0.4, centre + (y - centre) * 0.4) for x, y in outline]
    ImageDraw.Draw(image).polygon(heart, fill=mix(colour, (255, 255, 255), 0.45))

    # a 128-colour palette without dithering: a third of the bytes, and no visible banding at this size
    small = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.quantize(colors=PALETTE, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out.getvalue()
