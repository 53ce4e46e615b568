r"""CIFAR-10-C / ImageNet-C corruptions for RGB images, reproducible from a NumPy ``Generator``.

The 15 common corruptions of Hendrycks & Dietterich (2019) and their 4 extra ("validation")
ones, at severities 1-5, as functions ``fn(image, severity, rng) -> image``::

    from neuro_de.robustness.cifar_c import CIFAR_C_CORRUPTIONS
    out = CIFAR_C_CORRUPTIONS["fog"](image, 3, np.random.default_rng(0))

``image`` is an ``np.uint8`` array ``(H, W, 3)`` with ``H, W >= 32`` (the caller validates
shape and severity); the result is a new ``np.uint8`` array of the same shape, the input is
never modified, and every random number comes from ``rng``.

**Which definition.** Hendrycks' ``make_cifar_c.py`` (the script that made the released
CIFAR-10-C) uses constants tuned for 32x32 images, which differ from ImageNet-C's for *every*
corruption; ``imagecorruptions`` (Michaelis et al., 2019) implements the ImageNet-C constants,
scaled by image size in places. So:

- a **32x32** image (CIFAR-10 sized) gets the **CIFAR-10-C** definition: this module's own
  code, following ``make_cifar_c.py`` line by line (same constants, same order of random
  draws, same rounding);
- **any other size** gets the **ImageNet-C** definition of ``imagecorruptions`` 1.1.2: the
  package's own function, or, where it no longer runs or no longer takes its randomness from
  the seeded global state, this module's re-implementation of it with the same constants.

======================  ==================================  ====================================
corruption              32x32: CIFAR-10-C constants (c)     other sizes: ImageNet-C definition
======================  ==================================  ====================================
gaussian_noise          own; std .04 .06 .08 .09 .10        imagecorruptions
shot_noise              own; rate 500 250 100 75 50         imagecorruptions
impulse_noise           own; amount .01 .02 .03 .05 .07     own re-impl. [c]
defocus_blur            own; disk (.3,.4)..(1.5,.1)         imagecorruptions
glass_blur              own; (.05,1,1)..(.4,1,2)            own re-impl. [a]
motion_blur             own; (6,1)..(9,2.5) [m]             imagecorruptions
zoom_blur               own; zooms up to 1.06..1.26         imagecorruptions
snow                    own; make_cifar_c's 7-tuples [m]    imagecorruptions
frost                   own; (1,.2)..(.75,.45), frost x0.2  imagecorruptions
fog                     own; (.2,3)..(1.5,1.75), map 32     own re-impl. [a]
brightness              own; +V .05 .1 .15 .2 .3            imagecorruptions
contrast                own; .75 .5 .4 .3 .15               imagecorruptions
elastic_transform       own; affine + elastic, IMSIZE 32    imagecorruptions
pixelate                own; .95 .9 .85 .75 .65, BOX/BOX    imagecorruptions
jpeg_compression        own; quality 80 65 58 50 40         imagecorruptions
speckle_noise           own; std .06 .1 .12 .16 .2          imagecorruptions
gaussian_blur           own; sigma .4 .6 .7 .8 1            own re-impl. [a]
spatter                 own; make_cifar_c's 6-tuples [s]    imagecorruptions [s]
saturate                own; (.3,0) (.1,0) (1.5,0)..        imagecorruptions
======================  ==================================  ====================================

- [a] ``fog`` (``np.float_``), ``glass_blur`` and ``gaussian_blur`` (``multichannel=``) fail
  on NumPy 2 / current scikit-image: re-implemented here with ``np.float64`` and
  ``channel_axis=-1``, the package's constants and order of draws (``fog``'s plasma map is
  ``next_power_of_2(max(H, W))`` wide, as there). Given the same legacy seed they return
  exactly what the package's code would.
- [c] ``impulse_noise`` runs in the package, but scikit-image's ``random_noise`` now draws
  from its own ``default_rng()`` instead of the global state, so the package's result cannot
  be seeded; it is re-implemented with the package's constants and ``rng=`` passed.
- [m] ``make_cifar_c.py`` blurs ``motion_blur`` and ``snow`` with ImageMagick
  (``MagickMotionBlurImage`` through Wand). Here, as in ``imagecorruptions``, a NumPy port of
  that one-sided Gaussian motion kernel (width ``2 * radius + 1``, edge pixels repeated) is
  used with CIFAR-10-C's radius/sigma; the result is rounded to 8 bits, as ImageMagick's PNG
  output was. Close to, not bit-identical with, the released files.
- [s] ``spatter``'s "water" branch (severities 1-3) divides by the largest value of the
  liquid mask; where the mask is empty both originals produce NaN (cast to an undefined
  uint8). Here an empty mask adds no liquid: the image comes back as the originals'
  arithmetic leaves it without liquid (CIFAR-10-C constants at 32x32: not seen in 20000
  draws; ImageNet-C: about 1% of 33x33 images at severity 1, not seen at 48x48).

Run with the same legacy seed and current libraries, the CIFAR-10-C functions return
exactly what ``make_cifar_c.py``'s do (checked for the 16 that use neither ImageMagick nor
``random_noise``, all severities). The remaining differences from the released files come
from library versions: scikit-image's ``gaussian``/``random_noise``, SciPy's
``zoom``/``map_coordinates`` boundary handling and the JPEG encoder may differ from the
2018 versions, so the released files cannot be regenerated bit for bit.
``impulse_noise`` uses the current ``random_noise(mode="s&p")``: each value is flipped with
probability ``amount``, half of the flips to 0 and half to 1.

**Randomness.** The CIFAR-10-C functions and the re-implementations draw one seed
``rng.integers(2**32)`` per call and use a private legacy ``np.random.RandomState(seed)``, so
they consume random numbers exactly like the original scripts under ``np.random.seed(seed)``
(``impulse_noise`` passes ``rng`` itself to scikit-image). The functions called inside
``imagecorruptions`` read NumPy's *global* legacy state; each such call holds a module lock,
saves ``np.random.get_state()``, seeds the global state with ``rng.integers(2**32)`` and
restores the saved state afterwards, so the caller's global state is unchanged. The lock
serialises this module's calls only: other threads that use ``np.random.*`` during such a
call would interleave with it. Functions in :data:`DETERMINISTIC` draw nothing from ``rng``.
Same image, severity and identically seeded ``rng`` give identical output.

``imagecorruptions`` 1.1.2 imports ``pkg_resources``, which setuptools >= 81 no longer
ships: when it is missing, a stand-in module providing only ``resource_filename`` is put in
``sys.modules`` for the duration of that import and removed afterwards. NumPy and the
package's functions are never patched. The frost pictures are read from the package's
folder (they are byte-identical to those of ``hendrycks/robustness``).

References:
    D. Hendrycks and T. Dietterich. Benchmarking Neural Network Robustness to Common
    Corruptions and Perturbations. ICLR 2019. https://github.com/hendrycks/robustness
    (``ImageNet-C/create_c/make_cifar_c.py``).

    C. Michaelis et al. Benchmarking Robustness in Object Detection: Autonomous Driving when
    Winter is Coming. arXiv:1907.07484, 2019. https://github.com/bethgelab/imagecorruptions

    N. Mu and J. Gilmer. MNIST-C: A Robustness Benchmark for Computer Vision.
    arXiv:1906.02337, 2019 (the grey-image counterpart, :mod:`neuro_de.robustness.mnist_c`).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import threading
import types
import warnings
from collections.abc import Callable
from functools import cache
from io import BytesIO
from typing import Any

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scizoom
from skimage.color import hsv2rgb, rgb2hsv
from skimage.filters import gaussian
from skimage.util import random_noise

__all__ = [
    "CIFAR_C_COMMON",
    "CIFAR_C_CORRUPTIONS",
    "CIFAR_C_EXTRA",
    "CorruptionFn",
    "DETERMINISTIC",
]

#: ``fn(image, severity, rng) -> corrupted image`` (uint8 ``(H, W, 3)`` in and out).
CorruptionFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

#: The 15 common corruptions, in Hendrycks & Dietterich's order (mCE averages these).
CIFAR_C_COMMON: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)

#: The 4 extra ("validation") corruptions CIFAR-10-C also ships.
CIFAR_C_EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")

#: The corruptions that draw no random numbers (their output does not depend on ``rng``).
DETERMINISTIC: frozenset[str] = frozenset({
    "defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
    "gaussian_blur", "saturate",
})

_CIFAR_SIZE = 32


# ============================================================== shared helpers


def _legacy(rng: np.random.Generator) -> np.random.RandomState:
    """A private legacy stream seeded from ``rng`` (draws like ``np.random.seed(seed)``)."""
    return np.random.RandomState(int(rng.integers(2**32)))


def _disk(radius: float, alias_blur: float, dtype: Any = np.float32) -> np.ndarray:
    """Anti-aliased disk kernel of ``make_cifar_c.py`` / ``imagecorruptions``."""
    if radius <= 8:
        grid = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        grid = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx**2 + yy**2) <= radius**2, dtype=dtype)
    aliased /= np.sum(aliased)
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


def _plasma_fractal(mapsize: int, wibbledecay: float, rs: np.random.RandomState) -> np.ndarray:
    """Diamond-square height map in [0, 1], ``mapsize`` a power of two (draws as the originals)."""
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    maparray = np.zeros((mapsize, mapsize), dtype=np.float64)
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rs.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        # squares: centre of each square = mean of its corners + wibble
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squares = corners + np.roll(corners, shift=-1, axis=0)
        squares += np.roll(squares, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(squares)
        # diamonds: mid-edges = mean of the two corners and the two centres + wibble
        centres = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        left = (centres + np.roll(centres, 1, axis=0)) + (corners + np.roll(corners, -1, axis=1))
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(left)
        top = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=0))
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(top)
        stepsize //= 2
        wibble /= wibbledecay

    maparray -= maparray.min()
    return maparray / maparray.max()


def _next_power_of_2(n: int) -> int:
    return 1 if n == 0 else 2 ** (n - 1).bit_length()


def _motion_blur(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """One-sided Gaussian motion blur along ``angle`` degrees, edge pixels repeated.

    The NumPy port of ImageMagick's ``MotionBlurImage`` that ``imagecorruptions`` uses: a
    kernel of width ``2 * radius + 1`` with weights ``exp(-i^2 / (2 sigma^2))`` (normalised),
    tap ``i`` shifting the image by ``i`` pixels along the angle (rounded half down).
    """
    width = radius * 2 + 1
    taps = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    taps = taps / np.sum(taps)
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    height, wide = x.shape[:2]
    rows, cols = np.arange(height), np.arange(wide)
    blurred = np.zeros(x.shape, dtype=np.float64)
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i * point[1]) / hypot) - 0.5)
        if abs(dy) >= height or abs(dx) >= wide:
            break  # the motion left the image
        shifted = x[np.clip(rows - dy, 0, height - 1)][:, np.clip(cols - dx, 0, wide - 1)]
        blurred = blurred + taps[i] * shifted
    return blurred


def _glass_shuffle(x: np.ndarray, max_delta: int, iterations: int,
                   rs: np.random.RandomState) -> np.ndarray:
    """Glass blur's local pixel "swaps", exactly as the originals execute them.

    The originals write ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on NumPy views, which
    copies pixel ``(h', w')`` into ``(h, w)`` and leaves ``(h', w')`` unchanged; the
    pixels are visited from bottom-right to top-left, reading earlier results. The same
    sequence of copies is replayed on an index map (one draw of all offsets, which the
    legacy generator produces identically to the originals' one draw per pixel).
    """
    height, width = x.shape[:2]
    hs = range(height - max_delta, max_delta, -1)
    ws = range(width - max_delta, max_delta, -1)
    n = iterations * len(hs) * len(ws)
    if n == 0:
        return x.copy()
    offsets = rs.randint(-max_delta, max_delta, size=(n, 2)).tolist()  # (dx, dy) per pixel
    index = list(range(height * width))
    k = 0
    for _ in range(iterations):
        for h in hs:
            for w in ws:
                dx, dy = offsets[k]
                k += 1
                index[h * width + w] = index[(h + dy) * width + (w + dx)]
    flat = x.reshape(height * width, *x.shape[2:])
    return flat[np.asarray(index)].reshape(x.shape)


def _glass_blur(x: np.ndarray, sigma: float, max_delta: int, iterations: int,
                rs: np.random.RandomState) -> np.ndarray:
    x = np.uint8(gaussian(x / 255.0, sigma=sigma, channel_axis=-1) * 255)
    x = _glass_shuffle(x, max_delta, iterations, rs)
    return np.clip(gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


def _fog(x: np.ndarray, strength: float, wibbledecay: float, mapsize: int,
         rs: np.random.RandomState) -> np.ndarray:
    height, width = x.shape[:2]
    x = x / 255.0
    max_val = x.max()
    x += strength * _plasma_fractal(mapsize, wibbledecay, rs)[:height, :width][..., np.newaxis]
    return np.clip(x * max_val / (max_val + strength), 0, 1) * 255


def _impulse(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    out = random_noise(x / 255.0, mode="s&p", amount=amount, rng=rng)
    return np.clip(out, 0, 1) * 255


def _frost_folder() -> str:
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "frost needs the frost pictures shipped with the `imagecorruptions` package: "
            "pip install imagecorruptions (or 'neuro_de[robustness]')."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "frost")


_FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg",
                "frost6.jpg")


@cache
def _cifar_frost_picture(index: int) -> np.ndarray:
    """Frost picture ``index`` (BGR) shrunk to a fifth, as ``make_cifar_c.py`` does; read-only."""
    path = os.path.join(_frost_folder(), _FROST_FILES[index])
    picture = cv2.imread(path)
    if picture is None:
        raise FileNotFoundError(f"cannot read the frost picture {path!r}; reinstall "
                                "imagecorruptions.")
    picture = cv2.resize(picture, (0, 0), fx=0.2, fy=0.2)
    picture.setflags(write=False)
    return picture


# ======================================================= CIFAR-10-C (32x32) definitions
# Each mirrors the function of the same name in make_cifar_c.py; the result is a float
# array (or uint8 for the PIL-based ones) that _finish clips and truncates like np.uint8.


def _cifar_gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    rs = _legacy(rng)
    x = x / 255.0
    return np.clip(x + rs.normal(size=x.shape, scale=c), 0, 1) * 255


def _cifar_shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [500, 250, 100, 75, 50][severity - 1]
    rs = _legacy(rng)
    x = x / 255.0
    return np.clip(rs.poisson(x * c) / c, 0, 1) * 255


def _cifar_impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    return _impulse(x, c, rng)


def _cifar_speckle_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.06, 0.1, 0.12, 0.16, 0.2][severity - 1]
    rs = _legacy(rng)
    x = x / 255.0
    return np.clip(x + x * rs.normal(size=x.shape, scale=c), 0, 1) * 255


def _cifar_gaussian_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.4, 0.6, 0.7, 0.8, 1][severity - 1]
    return np.clip(gaussian(x / 255.0, sigma=c, channel_axis=-1), 0, 1) * 255


def _cifar_glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    # sigma, max_delta, iterations
    c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    return _glass_blur(x, c[0], c[1], c[2], _legacy(rng))


def _cifar_defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    x = x / 255.0
    kernel = _disk(radius=c[0], alias_blur=c[1])
    channels = [cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 1) * 255


def _cifar_motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    rs = _legacy(rng)
    angle = rs.uniform(-45, 45)
    # ImageMagick's result was read back from an 8-bit PNG: rounded.
    return np.round(np.clip(_motion_blur(x, c[0], c[1], angle), 0, 255))


def _cifar_clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    """``make_cifar_c.py``'s clipped zoom: centre crop, zoom, centre trim (square images)."""
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = scizoom(img[top:top + ch, top:top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top:trim_top + h, trim_top:trim_top + h]


def _cifar_zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    # np.arange with float steps, as in the original (arange(1, 1.06, .01) ends at 1.06)
    c = [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
         np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)][severity - 1]
    x = (x / 255.0).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in c:
        out += _cifar_clipped_zoom(x, zoom_factor)
    x = (x + out) / (len(c) + 1)
    return np.clip(x, 0, 1) * 255


def _cifar_snow(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.1, 0.2, 1, 0.6, 8, 3, 0.95),
         (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
         (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
         (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
         (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)][severity - 1]
    rs = _legacy(rng)
    height, width = x.shape[:2]
    x = np.array(x, dtype=np.float32) / 255.0
    snow_layer = rs.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    snow_layer = _cifar_clipped_zoom(snow_layer[..., np.newaxis], c[2])
    snow_layer[snow_layer < c[3]] = 0
    # the original hands ImageMagick an 8-bit grey PNG and reads an 8-bit PNG back
    snow_layer = (np.clip(snow_layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    snow_layer = _motion_blur(snow_layer, c[4], c[5], rs.uniform(-135, -45))
    snow_layer = np.round(np.clip(snow_layer, 0, 255)) / 255.0
    snow_layer = snow_layer[..., np.newaxis]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(height, width, 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + snow_layer + np.rot90(snow_layer, k=2), 0, 1) * 255


def _cifar_frost(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    rs = _legacy(rng)
    height, width = x.shape[:2]
    frost = _cifar_frost_picture(rs.randint(5))  # the original never picks frost6
    x_start = rs.randint(0, frost.shape[0] - height)
    y_start = rs.randint(0, frost.shape[1] - width)
    frost = frost[x_start:x_start + height, y_start:y_start + width][..., [2, 1, 0]]
    return np.clip(c[0] * x + c[1] * frost, 0, 255)


def _cifar_fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    mapsize = _next_power_of_2(max(x.shape[:2]))  # 32 for CIFAR, as in the original
    return _fog(x, c[0], c[1], mapsize, _legacy(rng))


def _cifar_brightness(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    x = rgb2hsv(x / 255.0)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    return np.clip(hsv2rgb(x), 0, 1) * 255


def _cifar_saturate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    x = rgb2hsv(x / 255.0)
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    return np.clip(hsv2rgb(x), 0, 1) * 255


def _cifar_contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    x = x / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def _cifar_jpeg_compression(x: np.ndarray, severity: int,
                            rng: np.random.Generator) -> np.ndarray:
    c = [80, 65, 58, 50, 40][severity - 1]
    output = BytesIO()
    Image.fromarray(x).save(output, "JPEG", quality=c)
    output.seek(0)
    with Image.open(output) as decoded:
        return np.array(decoded.convert("RGB"))


def _cifar_pixelate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    height, width = x.shape[:2]
    image = Image.fromarray(x)
    image = image.resize((int(width * c), int(height * c)), Image.Resampling.BOX)
    image = image.resize((width, height), Image.Resampling.BOX)
    return np.array(image)


def _cifar_elastic_transform(x: np.ndarray, severity: int,
                             rng: np.random.Generator) -> np.ndarray:
    size = _CIFAR_SIZE  # IMSIZE in make_cifar_c.py
    # (alpha, sigma, affine jitter)
    c = [(size * 0, size * 0, size * 0.08),
         (size * 0.05, size * 0.2, size * 0.07),
         (size * 0.08, size * 0.06, size * 0.06),
         (size * 0.1, size * 0.04, size * 0.05),
         (size * 0.1, size * 0.03, size * 0.03)][severity - 1]
    rs = _legacy(rng)
    image = np.array(x, dtype=np.float32) / 255.0
    shape = image.shape
    shape_size = shape[:2]

    # random affine
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + rs.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, matrix, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)

    dx = (gaussian(rs.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3)
          * c[0]).astype(np.float32)
    dy = (gaussian(rs.uniform(-1, 1, size=shape[:2]), c[1], mode="reflect", truncate=3)
          * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]

    xs, ys, zs = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(ys + dy, (-1, 1)), np.reshape(xs + dx, (-1, 1)), np.reshape(zs, (-1, 1))
    warped = map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)
    return np.clip(warped, 0, 1) * 255


def _cifar_spatter(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.62, 0.1, 0.7, 0.7, 0.5, 0),
         (0.65, 0.1, 0.8, 0.7, 0.5, 0),
         (0.65, 0.3, 1, 0.69, 0.5, 0),
         (0.65, 0.1, 0.7, 0.69, 0.6, 1),
         (0.65, 0.1, 0.5, 0.68, 0.6, 1)][severity - 1]
    rs = _legacy(rng)
    x = np.array(x, dtype=np.float32) / 255.0

    liquid_layer = rs.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    liquid_layer = gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    if c[5] == 0:  # water
        # (x * 255).astype(uint8) wraps values above 255 on the original's platform: explicit here
        liquid_layer = ((liquid_layer * 255).astype(np.int64) % 256).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid_layer, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)

        m = cv2.cvtColor(liquid_layer * dist, cv2.COLOR_GRAY2BGRA)
        peak = np.max(m, axis=(0, 1))
        m = np.divide(m, peak, out=np.zeros_like(m), where=peak > 0)  # empty mask: no liquid
        m *= c[4]
        # water is pale turquoise
        color = np.concatenate((175 / 255.0 * np.ones_like(m[..., :1]),
                                238 / 255.0 * np.ones_like(m[..., :1]),
                                238 / 255.0 * np.ones_like(m[..., :1])), axis=2)
        color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(np.clip(x + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255
    # mud
    m = np.where(liquid_layer > c[3], 1, 0)
    m = gaussian(m.astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    # mud brown
    color = np.concatenate((63 / 255.0 * np.ones_like(x[..., :1]),
                            42 / 255.0 * np.ones_like(x[..., :1]),
                            20 / 255.0 * np.ones_like(x[..., :1])), axis=2)
    color *= m[..., np.newaxis]
    x *= 1 - m[..., np.newaxis]
    return np.clip(x + color, 0, 1) * 255


_CIFAR10_C: dict[str, CorruptionFn] = {
    "gaussian_noise": _cifar_gaussian_noise,
    "shot_noise": _cifar_shot_noise,
    "impulse_noise": _cifar_impulse_noise,
    "defocus_blur": _cifar_defocus_blur,
    "glass_blur": _cifar_glass_blur,
    "motion_blur": _cifar_motion_blur,
    "zoom_blur": _cifar_zoom_blur,
    "snow": _cifar_snow,
    "frost": _cifar_frost,
    "fog": _cifar_fog,
    "brightness": _cifar_brightness,
    "contrast": _cifar_contrast,
    "elastic_transform": _cifar_elastic_transform,
    "pixelate": _cifar_pixelate,
    "jpeg_compression": _cifar_jpeg_compression,
    "speckle_noise": _cifar_speckle_noise,
    "gaussian_blur": _cifar_gaussian_blur,
    "spatter": _cifar_spatter,
    "saturate": _cifar_saturate,
}


# ===================================================== ImageNet-C (other sizes) definitions
# Re-implementations of imagecorruptions 1.1.2's functions that no longer run or can no
# longer be seeded; same constants and order of random draws as the package.


def _ic_gaussian_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [1, 2, 3, 4, 6][severity - 1]
    return np.clip(gaussian(x / 255.0, sigma=c, channel_axis=-1), 0, 1) * 255


def _ic_glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    # sigma, max_delta, iterations
    c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    return _glass_blur(x, c[0], c[1], c[2], _legacy(rng))


def _ic_fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)][severity - 1]
    mapsize = _next_power_of_2(int(max(x.shape)))
    return _fog(x, c[0], c[1], mapsize, _legacy(rng))


def _ic_impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    return _impulse(x, c, rng)


_IC_OWN: dict[str, CorruptionFn] = {
    "gaussian_blur": _ic_gaussian_blur,
    "glass_blur": _ic_glass_blur,
    "fog": _ic_fog,
    "impulse_noise": _ic_impulse_noise,
}

_IMPORT_LOCK = threading.Lock()
_GLOBAL_STATE_LOCK = threading.Lock()
_ic_module: types.ModuleType | None = None


def _imagecorruptions() -> types.ModuleType:
    """``imagecorruptions.corruptions``, imported once (see the module docstring)."""
    global _ic_module
    with _IMPORT_LOCK:
        if _ic_module is not None:
            return _ic_module
        if importlib.util.find_spec("imagecorruptions") is None:
            raise ImportError(
                "CIFAR-10-C corruptions of images other than 32x32 use the `imagecorruptions` "
                "package: pip install imagecorruptions (or 'neuro_de[robustness]')."
            )
        stub = None
        try:
            importlib.import_module("pkg_resources")
        except ImportError:
            # setuptools >= 81 dropped pkg_resources; the package needs only this function.
            stub = types.ModuleType("pkg_resources")

            def resource_filename(package: str, resource: str) -> str:
                return os.path.join(os.path.dirname(sys.modules[package].__file__), resource)

            stub.resource_filename = resource_filename  # type: ignore[attr-defined]
            sys.modules["pkg_resources"] = stub
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.interpolation
                _ic_module = importlib.import_module("imagecorruptions.corruptions")
        finally:
            if stub is not None and sys.modules.get("pkg_resources") is stub:
                del sys.modules["pkg_resources"]
        return _ic_module


def _ic_call(name: str, x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Run ``imagecorruptions``' ``name`` with the global legacy state seeded from ``rng``."""
    fn = getattr(_imagecorruptions(), name)
    pil = Image.fromarray(x)  # what imagecorruptions.corrupt passes (a copy)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name in DETERMINISTIC:
            out = fn(pil, severity)
        else:
            seed = int(rng.integers(2**32))
            with _GLOBAL_STATE_LOCK:
                saved = np.random.get_state()
                try:
                    np.random.seed(seed)
                    out = fn(pil, severity)
                finally:
                    np.random.set_state(saved)
    out = np.asarray(out)
    if name == "spatter" and not np.isfinite(out).all():
        # empty liquid mask: the package divides 0 by 0; no liquid means the image itself
        out = np.where(np.isfinite(out), out, x)
    return out


# ============================================================== the public functions


def _finish(out: Any, like: np.ndarray) -> np.ndarray:
    """Clip to 0-255 and truncate to uint8, as ``np.uint8(...)`` in the originals does."""
    out = np.asarray(out)
    if out.dtype != np.uint8:
        out = np.clip(out, 0, 255).astype(np.uint8)
    elif np.shares_memory(out, like) or not out.flags.writeable or not out.flags.c_contiguous:
        out = np.array(out, order="C")
    if out.shape != like.shape:  # defensive: the definitions keep the shape
        raise RuntimeError(f"corruption changed the shape {like.shape} to {out.shape}")
    return out


class _Corruption:
    """One named corruption: CIFAR-10-C's definition for 32x32, ImageNet-C's otherwise.

    A module-level class (not a closure) so that suites can send it to worker processes.
    """

    def __init__(self, name: str):
        self.__name__ = name
        self.__qualname__ = name
        if name in _IC_OWN:
            other = "this module's re-implementation of imagecorruptions'"
        else:
            other = "imagecorruptions'"
        self.__doc__ = (
            f"{name}(image, severity, rng): 32x32 images get CIFAR-10-C's definition, other "
            f"sizes {other} ImageNet-C definition."
        )

    def __call__(self, image: np.ndarray, severity: int,
                 rng: np.random.Generator) -> np.ndarray:
        """Corrupt a uint8 ``(H, W, 3)`` image (``H, W >= 32``) at ``severity`` 1-5."""
        name = self.__name__
        severity = int(severity)
        if image.shape[:2] == (_CIFAR_SIZE, _CIFAR_SIZE):
            out = _CIFAR10_C[name](image, severity, rng)
        elif name in _IC_OWN:
            out = _IC_OWN[name](image, severity, rng)
        else:
            out = _ic_call(name, image, severity, rng)
        return _finish(out, image)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Corruption, (self.__name__,))

    def __repr__(self) -> str:
        return f"<CIFAR-10-C corruption {self.__name__!r}>"


#: All 19 corruptions: the 15 common ones in Hendrycks' order, then the 4 extra ones.
CIFAR_C_CORRUPTIONS: dict[str, CorruptionFn] = {
    name: _Corruption(name) for name in CIFAR_C_COMMON + CIFAR_C_EXTRA
}
