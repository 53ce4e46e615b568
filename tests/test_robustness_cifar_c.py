"""CIFAR-10-C / ImageNet-C corruptions (neuro_de.robustness.cifar_c).

32x32 images take this module's CIFAR-10-C definitions (Hendrycks & Dietterich, 2019); other
sizes the ImageNet-C definitions of ``imagecorruptions`` (Michaelis et al., 2019), three of
which are re-implemented here and checked against the package's own code run with
``multichannel=`` / ``np.float_`` replaced.
"""

from __future__ import annotations

import itertools
import pickle
import sys
import types
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scizoom
from skimage.filters import gaussian

from neuro_de.robustness import cifar_c
from neuro_de.robustness.cifar_c import (
    CIFAR_C_COMMON,
    CIFAR_C_CORRUPTIONS,
    CIFAR_C_EXTRA,
    DETERMINISTIC,
)

NAMES = list(CIFAR_C_CORRUPTIONS)
SEVERITIES = (1, 2, 3, 4, 5)

# Severities whose mean absolute change is not ordered, because the constants are not:
NON_MONOTONE = {
    # (sigma, max_delta, iterations) = (.05,1,1) (.25,1,1) (.4,1,1) (.25,1,2) (.4,1,2): a wider
    # blur before the pixel shuffle hides the shuffle (3 < 2, 5 < 4)
    "glass_blur",
    # image weight falls (1, 1, .9, .85, .75) while the frost weight rises only to .45: the two
    # cancel on bright images, so 4 and 5 change less than 3
    "frost",
    # CIFAR-10-C's constants shrink the random affine jitter (.08 .07 .06 .05 .03 x 32 px) while
    # the elastic part grows: severity 1 moves pixels most
    "elastic_transform",
    # severities 1-3 add water, 4-5 mud (a different effect, not a stronger one)
    "spatter",
    # severities 1-2 desaturate (x .3, x .1), 3-5 oversaturate (x1.5 ... x2.5 + .2)
    "saturate",
}


def _small(image: np.ndarray, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # size = (W, H)


def _gradient(h: int = 32, w: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), 255 - (xx + yy) * 4], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


IMAGES32 = [
    _small(skimage.data.astronaut()),
    _small(skimage.data.chelsea()),
    _small(skimage.data.coffee()),
    _gradient(),
]
# not 32x32: imagecorruptions' (ImageNet-C) definitions, non-square
IMAGE_OTHER = _small(skimage.data.chelsea(), (48, 40))


def _same_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def _change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


# ------------------------------------------------------------------ contract


def test_names_and_order():
    assert CIFAR_C_COMMON == (
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
        "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
        "elastic_transform", "pixelate", "jpeg_compression",
    )
    assert CIFAR_C_EXTRA == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert NAMES == list(CIFAR_C_COMMON + CIFAR_C_EXTRA)
    assert DETERMINISTIC == {
        "defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
        "jpeg_compression", "gaussian_blur", "saturate",
    }
    for name, fn in CIFAR_C_CORRUPTIONS.items():
        assert fn.__name__ == name and callable(fn)


def _check_properties(name: str, images: list[np.ndarray]) -> None:
    fn = CIFAR_C_CORRUPTIONS[name]
    for image in images:
        original = image.copy()
        for severity in SEVERITIES:
            state = np.random.get_state()
            out = fn(image, severity, np.random.default_rng(0))
            assert _same_state(state, np.random.get_state()), "global np.random state changed"
            assert isinstance(out, np.ndarray) and out.dtype == np.uint8
            assert out.shape == image.shape
            assert not np.shares_memory(out, image) and out.flags.writeable
            np.testing.assert_array_equal(image, original)  # input unmodified
            assert not np.array_equal(out, image), f"{name} s{severity} changed nothing"
            again = fn(image, severity, np.random.default_rng(0))
            np.testing.assert_array_equal(out, again)  # same seed, same output
            other = fn(image, severity, np.random.default_rng(1))
            if name in DETERMINISTIC:
                np.testing.assert_array_equal(out, other)
            else:
                assert not np.array_equal(out, other), f"{name} s{severity} ignores the seed"


@pytest.mark.parametrize("name", NAMES)
def test_properties_32x32(name):
    _check_properties(name, IMAGES32)


@pytest.mark.parametrize("name", NAMES)
def test_properties_other_sizes(name):
    _check_properties(name, [IMAGE_OTHER])


def test_deterministic_draw_nothing_from_rng():
    for name in DETERMINISTIC:
        for image in (IMAGES32[0], IMAGE_OTHER):
            rng = np.random.default_rng(5)
            before = rng.bit_generator.state
            CIFAR_C_CORRUPTIONS[name](image, 3, rng)
            assert rng.bit_generator.state == before, name


@pytest.mark.parametrize("name", [n for n in NAMES if n not in NON_MONOTONE])
def test_severity_monotone(name):
    fn = CIFAR_C_CORRUPTIONS[name]
    means = [
        np.mean([_change(fn(im, s, np.random.default_rng(k)), im)
                 for im in IMAGES32 for k in range(3)])
        for s in SEVERITIES
    ]
    # motion_blur 3 -> 4 is a tie: (6, 2) and (8, 2) differ only in taps of weight ~1e-9
    for lo, hi in itertools.pairwise(means):
        assert hi >= lo * 0.99, f"{name}: {np.round(means, 2)}"


def test_pickles_for_worker_processes():
    fn = CIFAR_C_CORRUPTIONS["fog"]
    copy = pickle.loads(pickle.dumps(fn))
    np.testing.assert_array_equal(copy(IMAGES32[0], 2, np.random.default_rng(3)),
                                  fn(IMAGES32[0], 2, np.random.default_rng(3)))


def test_threads_give_the_sequential_results():
    jobs = [(name, s, k) for name in ("frost", "snow", "gaussian_noise", "spatter")
            for s in (1, 5) for k in (0, 1)]

    def run(job):
        name, s, k = job
        return CIFAR_C_CORRUPTIONS[name](IMAGE_OTHER, s, np.random.default_rng(k))

    state = np.random.get_state()
    sequential = [run(j) for j in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(run, jobs))
    for a, b in zip(sequential, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert _same_state(state, np.random.get_state())


@pytest.mark.parametrize("size,amounts", [((32, 32), (0.01, 0.07)), ((40, 48), (0.03, 0.27))])
def test_impulse_noise_amount(size, amounts):
    grey = np.full((*size, 3), 128, np.uint8)
    for severity, amount in zip((1, 5), amounts, strict=True):
        fractions = []
        for k in range(5):
            out = CIFAR_C_CORRUPTIONS["impulse_noise"](grey, severity, np.random.default_rng(k))
            assert set(np.unique(out)) <= {0, 128, 255}
            fractions.append(np.mean(out != 128))
        assert abs(np.mean(fractions) - amount) < 0.25 * amount + 0.005


# ------------------------------------------------ agreement with the original definitions


@pytest.fixture(scope="module")
def ic():
    """imagecorruptions' module, made to run its broken functions for reference only."""
    return cifar_c._imagecorruptions()


def test_no_pkg_resources_stand_in_left_behind(ic):
    module = sys.modules.get("pkg_resources")
    assert module is None or getattr(module, "__file__", None)


def _seed(k: int) -> int:
    """The legacy seed the module derives from ``default_rng(k)``."""
    return int(np.random.default_rng(k).integers(2**32))


@pytest.mark.parametrize("name", ["glass_blur", "gaussian_blur", "fog"])
def test_reimplemented_match_imagecorruptions(ic, monkeypatch, name):
    def gaussian_multichannel(image, *args, multichannel=False, **kwargs):
        if multichannel:
            kwargs["channel_axis"] = -1
        return gaussian(image, *args, **kwargs)

    numpy_with_float_ = types.ModuleType("numpy_with_float_")
    numpy_with_float_.__dict__.update(vars(np))
    numpy_with_float_.float_ = np.float64
    monkeypatch.setattr(ic, "gaussian", gaussian_multichannel)
    monkeypatch.setattr(ic, "np", numpy_with_float_)

    state = np.random.get_state()
    try:
        for image in (IMAGE_OTHER, _small(skimage.data.astronaut(), (33, 37))):
            for severity in SEVERITIES:
                for k in (0, 1):
                    np.random.seed(_seed(k))
                    expected = np.uint8(getattr(ic, name)(Image.fromarray(image), severity))
                    got = CIFAR_C_CORRUPTIONS[name](image, severity, np.random.default_rng(k))
                    np.testing.assert_array_equal(got, expected, err_msg=f"{name} s{severity}")
    finally:
        np.random.set_state(state)


def test_motion_kernel_matches_imagecorruptions(ic):
    rs = np.random.RandomState(0)
    for shape in ((32, 32, 3), (32, 32), (40, 48, 3)):
        x = rs.randint(0, 256, size=shape).astype(np.uint8)
        for radius, sigma, angle in ((6, 1, -30.0), (9, 2.5, 44.0), (12, 8, -100.0), (15, 5, 0)):
            np.testing.assert_allclose(cifar_c._motion_blur(x, radius, sigma, angle),
                                       ic._motion_blur(x, radius, sigma, angle), atol=1e-9)


def _ref_cifar_clipped_zoom(img, zoom_factor):  # make_cifar_c.py, verbatim
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = scizoom(img[top:top + ch, top:top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top:trim_top + h, trim_top:trim_top + h]


def _ref_cifar_zoom_blur(x, severity=1):  # make_cifar_c.py, verbatim
    c = [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
         np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)][severity - 1]
    x = (np.array(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in c:
        out += _ref_cifar_clipped_zoom(x, zoom_factor)
    x = (x + out) / (len(c) + 1)
    return np.clip(x, 0, 1) * 255


def _ref_cifar_elastic(image, severity=1):  # make_cifar_c.py, verbatim (global np.random)
    IMSIZE = 32  # noqa: N806
    c = [(IMSIZE * 0, IMSIZE * 0, IMSIZE * 0.08),
         (IMSIZE * 0.05, IMSIZE * 0.2, IMSIZE * 0.07),
         (IMSIZE * 0.08, IMSIZE * 0.06, IMSIZE * 0.06),
         (IMSIZE * 0.1, IMSIZE * 0.04, IMSIZE * 0.05),
         (IMSIZE * 0.1, IMSIZE * 0.03, IMSIZE * 0.03)][severity - 1]
    image = np.array(image, dtype=np.float32) / 255.
    shape = image.shape
    shape_size = shape[:2]
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + np.random.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    M = cv2.getAffineTransform(pts1, pts2)  # noqa: N806
    image = cv2.warpAffine(image, M, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian(np.random.uniform(-1, 1, size=shape[:2]),
                   c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dy = (gaussian(np.random.uniform(-1, 1, size=shape[:2]),
                   c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode='reflect').reshape(shape),
                   0, 1) * 255


@pytest.mark.parametrize("name,reference", [("zoom_blur", _ref_cifar_zoom_blur),
                                            ("elastic_transform", _ref_cifar_elastic)])
def test_cifar_definitions_match_make_cifar_c(name, reference):
    state = np.random.get_state()
    try:
        for image in IMAGES32[:2]:
            for severity in SEVERITIES:
                np.random.seed(_seed(0))
                expected = np.uint8(reference(Image.fromarray(image), severity))
                got = CIFAR_C_CORRUPTIONS[name](image, severity, np.random.default_rng(0))
                np.testing.assert_array_equal(got, expected, err_msg=f"{name} s{severity}")
    finally:
        np.random.set_state(state)
