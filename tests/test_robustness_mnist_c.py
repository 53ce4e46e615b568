"""MNIST-C's 15 corruptions (:mod:`neuro_de.robustness.mnist_c`): contract and hand checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage, stats
from skimage import color

from neuro_de.data import BUNDLED_ROOT, load_dataset
from neuro_de.robustness import mnist_c
from neuro_de.robustness.mnist_c import DETERMINISTIC, MNIST_C_CORRUPTIONS, MNIST_C_SEVERITY

NAMES = list(MNIST_C_CORRUPTIONS)
SEVERITIES = (1, 2, 3, 4, 5)
PARAMETER_FREE = ("stripe", "dotted_line", "zigzag", "canny_edges")  # no severity originally


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int64) - b.astype(np.int64)).mean())


def read_only(image: np.ndarray) -> np.ndarray:
    out = np.array(image, dtype=np.uint8, copy=True)
    out.flags.writeable = False
    return out


@pytest.fixture(scope="module")
def digits() -> list[np.ndarray]:
    """Eight real MNIST test digits (the copy bundled with the package), uint8 28x28."""
    test = load_dataset("mnist", root=BUNDLED_ROOT, train=False, normalize=False)
    images = (test.images[:8, 0].numpy() * 255.0).round().astype(np.uint8)
    return [read_only(x) for x in images]


def resized(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    zoom = (shape[0] / image.shape[0], shape[1] / image.shape[1])
    out = np.clip(ndimage.zoom(image.astype(np.float64), zoom, order=1), 0, 255)
    assert out.shape == shape
    return read_only(np.rint(out).astype(np.uint8))


class NoSwaps:
    """A stand-in ``rng`` for glass_blur: no pixel is swapped."""

    def random(self, size):
        return np.ones(size)

    def integers(self, low, high, size):
        return np.zeros(size, dtype=np.int64)


# ------------------------------------------------------------------ registry


def test_registry_order_severities_and_deterministic_set():
    assert NAMES == [
        "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale",
        "rotate", "brightness", "translate", "stripe", "fog", "spatter", "dotted_line",
        "zigzag", "canny_edges",
    ]
    assert list(MNIST_C_SEVERITY) == NAMES
    assert all(isinstance(s, int) and 1 <= s <= 5 for s in MNIST_C_SEVERITY.values())
    # the default `severity=` of each function in google-research/mnist-c corruptions.py
    released = {"shot_noise": 5, "impulse_noise": 4, "glass_blur": 1, "motion_blur": 1,
                "shear": 2, "scale": 3, "rotate": 2, "brightness": 5, "translate": 3,
                "fog": 5, "spatter": 4}
    assert {n: MNIST_C_SEVERITY[n] for n in released} == released
    assert DETERMINISTIC == {"scale", "brightness", "stripe", "canny_edges"}
    for name, fn in MNIST_C_CORRUPTIONS.items():
        assert fn is getattr(mnist_c, name) and fn.__doc__


# ------------------------------------------------------------------ the contract


@pytest.mark.parametrize("name", NAMES)
def test_contract_on_mnist_digits(name, digits):
    fn = MNIST_C_CORRUPTIONS[name]
    global_state = np.random.get_state()[1].copy()
    for severity in SEVERITIES:
        changed = seed_matters = False
        for image in digits[:4]:
            before = image.copy()
            out = fn(image, severity, rng(1))
            assert out.shape == image.shape and out.dtype == np.uint8
            assert not np.shares_memory(out, image)
            np.testing.assert_array_equal(image, before)  # (read-only: also never written)
            np.testing.assert_array_equal(fn(image, severity, rng(1)), out)
            changed |= change(out, image) > 0
            seed_matters |= not np.array_equal(fn(image, severity, rng(2)), out)
        assert changed, f"{name} at severity {severity} changed no image"
        assert seed_matters == (name not in DETERMINISTIC), (name, severity)
    # nothing drawn from NumPy's global random state
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)


@pytest.mark.parametrize("shape", [(32, 32), (20, 24), (8, 8), (40, 9)])
def test_other_sizes(shape, digits):
    image = resized(digits[0], shape)
    for name, fn in MNIST_C_CORRUPTIONS.items():
        for severity in SEVERITIES:
            out = fn(image, severity, rng(3))
            assert out.shape == shape and out.dtype == np.uint8, (name, severity)
            np.testing.assert_array_equal(fn(image, severity, rng(3)), out)


# Non-decreasing mean absolute change from the clean digit, severity by severity, except:
# - motion_blur 4 -> 5: (radius, sigma) (15, 12) -> (20, 15): both smear a digit far beyond
#   its size; the longer, flatter trail leaves slightly less change (the measure saturates).
# - fog 3 -> 4: same thickness 2.5, only the wibble decay falls (1.7 -> 1.5): a rougher
#   fractal, not a thicker fog; normalised to [0, 1] it covers the digit with a little less.
# - spatter 3 -> 4: severities 4-5 are ImageNet-C's "mud" constants (noise blur 1, mask blur
#   1.5 cut at .8, which keeps only blob cores) after the "water" ones: fewer pixels covered.
# The four parameter-free corruptions (PARAMETER_FREE) give the same image at every level.
NOT_MONOTONE = {("motion_blur", 4), ("fog", 3), ("spatter", 3)}  # (name, s): s -> s + 1


@pytest.mark.parametrize("name", NAMES)
def test_severity_is_monotone(name, digits):
    fn = MNIST_C_CORRUPTIONS[name]
    mean_change = [
        np.mean([change(fn(x, s, rng(seed)), x) for x in digits for seed in range(3)])
        for s in SEVERITIES
    ]
    if name in PARAMETER_FREE:
        assert len(set(mean_change)) == 1
        return
    for s in SEVERITIES[:-1]:
        if (name, s) not in NOT_MONOTONE:
            assert mean_change[s] >= mean_change[s - 1], (name, s, mean_change)
    # the exceptions are real (else the comment above would be wrong)
    for exception, s in NOT_MONOTONE:
        if exception == name:
            assert mean_change[s] < mean_change[s - 1]


@pytest.mark.parametrize("name", PARAMETER_FREE)
def test_parameter_free_corruptions_ignore_severity(name, digits):
    fn = MNIST_C_CORRUPTIONS[name]
    first = fn(digits[1], 1, rng(5))
    for severity in SEVERITIES[1:]:
        np.testing.assert_array_equal(fn(digits[1], severity, rng(5)), first)


# ------------------------------------------------------------------ noise


@pytest.mark.parametrize("severity", SEVERITIES)
def test_shot_noise_mean_and_levels(severity):
    rate = (60, 25, 12, 5, 3)[severity - 1]
    level = 60
    image = np.full((80, 80), level, np.uint8)
    out = mnist_c.shot_noise(image, severity, rng(severity)).astype(np.float64)
    # outputs are round(255 min(k / rate, 1)) for k ~ Poisson(rate * level / 255)
    k = np.arange(200)
    values = np.rint(np.minimum(k / rate, 1.0) * 255.0)
    assert set(np.unique(out)) <= set(values)
    pmf = stats.poisson.pmf(k, rate * level / 255.0)
    mean, std = (pmf * values).sum(), math.sqrt((pmf * values**2).sum() - (pmf * values).sum() ** 2)
    assert abs(out.mean() - mean) < 4.0 * std / math.sqrt(out.size)
    assert abs(mean - level) < 0.05 * level  # unbiased but for the clipping at 255


@pytest.mark.parametrize("severity", SEVERITIES)
def test_impulse_noise_flips_the_expected_fraction(severity):
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    image = np.full((120, 120), 128, np.uint8)
    out = mnist_c.impulse_noise(image, severity, rng(severity))
    flipped = out != 128
    assert set(np.unique(out[flipped])) <= {0, 255}
    n = image.size
    assert abs(flipped.mean() - amount) < 4.0 * math.sqrt(amount * (1 - amount) / n)
    salt = (out == 255).sum()
    assert abs(salt - flipped.sum() / 2) < 4.0 * math.sqrt(flipped.sum() / 4)


# ------------------------------------------------------------------ blur


def sequential_swaps(image, delta, active, offsets):
    """The original's pixel loop, for comparison."""
    x = image.copy()
    height, width = x.shape
    for a, h in enumerate(range(height - delta, delta, -1)):
        for b, w in enumerate(range(width - delta, delta, -1)):
            if active[a, b]:
                dy, dx = offsets[a, b]
                x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]
    return x


@pytest.mark.parametrize("delta", [1, 2, 3, 4])
def test_glass_swaps_equal_the_sequential_loop_within_one_block(delta):
    generator = rng(delta)
    for shape in [(4 * delta, 4 * delta), (4 * delta, 3 * delta + 1)]:
        for _ in range(20):
            image = generator.integers(0, 256, size=shape, dtype=np.uint8)
            grid = (shape[0] - 2 * delta, shape[1] - 2 * delta)
            active = generator.random(grid) < 0.5
            offsets = generator.integers(-delta, delta, size=(*grid, 2))
            np.testing.assert_array_equal(
                mnist_c._local_swaps(image, delta, active, offsets),
                sequential_swaps(image, delta, active, offsets),
            )


def test_glass_swaps_permute_pixels_on_large_images():
    generator = rng(0)
    image = generator.integers(0, 256, size=(40, 33), dtype=np.uint8)
    grid = (40 - 6, 33 - 6)
    active = generator.random(grid) < 0.5
    offsets = generator.integers(-3, 3, size=(*grid, 2))
    out = mnist_c._local_swaps(image, 3, active, offsets)
    assert not np.array_equal(out, image)
    np.testing.assert_array_equal(np.sort(out, axis=None), np.sort(image, axis=None))
    # far from the sequential loop's result it is not: most pixels agree
    assert (out == sequential_swaps(image, 3, active, offsets)).mean() > 0.5


def test_glass_blur_blurs_vertically_like_the_original(digits):
    line = np.zeros((28, 28), np.uint8)
    line[:, 13] = 200  # a vertical line is invariant under a vertical blur
    for severity in SEVERITIES:
        out = mnist_c.glass_blur(line, severity, NoSwaps()).astype(int)
        assert np.abs(out - line).max() <= 1  # the original's truncation to uint8
        spread = mnist_c.glass_blur(line, severity, NoSwaps(), isotropic=True)
        assert spread[:, 12].min() > 10 and spread[:, 13].max() < 190
    for x in digits:  # swaps and blurs move intensity, they neither add nor remove much
        out = mnist_c.glass_blur(x, 5, rng(0))
        assert abs(int(out.sum()) - int(x.sum())) < 0.03 * x.sum()


@pytest.mark.parametrize("severity", SEVERITIES)
def test_motion_blur_of_a_dot_is_a_one_sided_trail(severity):
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    image = np.zeros((28, 28), np.uint8)
    row, col = 14, 26
    image[row, col] = 255
    first_weight = 1.0 / np.exp(-np.arange(2 * radius + 1) ** 2 / (2.0 * sigma**2)).sum()
    for seed in range(5):
        out = mnist_c.motion_blur(image, severity, rng(seed))
        assert out[row, col] == round(255 * first_weight)  # tap 0: the pixel itself
        rr, cc = np.nonzero(out)
        assert (cc <= col).all()  # trail behind the dot only
        assert (np.abs(rr - row) <= col - cc).all()  # within +-45 degrees
        assert out.sum() <= 255 + len(rr) / 2  # weights sum to 1; rounding +-.5 a pixel
        if severity == 1:  # the trail (20 px, weights beyond ~9 px negligible) fits
            assert out.sum() >= 255 - len(rr) / 2


# ------------------------------------------------------------------ geometry


def row_centroids(image):
    weights = image.astype(np.float64)
    cols = np.arange(image.shape[1])
    keep = weights.sum(axis=1) > 0
    return np.nonzero(keep)[0], (weights[keep] * cols).sum(axis=1) / weights[keep].sum(axis=1)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_shear_uses_the_old_scikit_image_matrix(severity):
    c = (0.2, 0.4, 0.6, 0.8, 1.0)[severity - 1]
    vertical = np.zeros((28, 28), np.uint8)
    vertical[:, 13:15] = 255  # centred on 13.5
    horizontal = np.zeros((28, 28), np.uint8)
    horizontal[17, :] = 255  # 3.5 rows below the centre
    signs = set()
    for seed in range(6):
        rows, centres = row_centroids(mnist_c.shear(vertical, severity, rng(seed)))
        slope = np.polyfit(rows, centres, 1)[0]
        # x_in = x_out - sin(c) (y_out - 13.5): slope +-sin(c) (tan(c) in skimage >= 0.20)
        assert abs(abs(slope) - math.sin(c)) < 0.02
        signs.add(np.sign(slope))
        out = mnist_c.shear(horizontal, severity, rng(seed)).astype(np.float64)
        centre_row = (out.sum(axis=1) * np.arange(28)).sum() / out.sum()
        assert abs(centre_row - (13.5 + 3.5 / math.cos(c))) < 0.1  # y_in = cos(c) y_out
    assert signs == {-1.0, 1.0}


@pytest.mark.parametrize("severity", SEVERITIES)
def test_scale_shrinks_about_the_centre(severity):
    zoom = (0.9, 0.8, 0.7, 0.6, 0.5)[severity - 1]
    rows, cols = np.indices((28, 28))
    sigma = 4.0  # a smooth blob, centred on 13.5: sampled sums approximate integrals
    blob = np.rint(250 * np.exp(-((rows - 13.5) ** 2 + (cols - 13.5) ** 2) / (2 * sigma**2)))
    out = mnist_c.scale(blob.astype(np.uint8), severity, None).astype(np.float64)
    assert abs(out.sum() / blob.sum() - zoom**2) < 0.02 * zoom**2  # area times zoom**2
    centre = (out * rows).sum() / out.sum()
    spread = math.sqrt((out * (rows - centre) ** 2).sum() / out.sum())
    assert abs(centre - 13.5) < 1e-6
    assert abs(spread - zoom * sigma) < 0.1  # the blob's sigma times zoom


def orientation(image):
    w = image.astype(np.float64)
    rows, cols = np.indices(w.shape)
    m = w.sum()
    r0, c0 = (w * rows).sum() / m, (w * cols).sum() / m
    mu20 = (w * (cols - c0) ** 2).sum()
    mu02 = (w * (rows - r0) ** 2).sum()
    mu11 = (w * (cols - c0) * (rows - r0)).sum()
    return 0.5 * math.atan2(2 * mu11, mu20 - mu02)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_rotate_by_the_stated_angle(severity):
    c = (0.2, 0.4, 0.6, 0.8, 1.0)[severity - 1]
    bar = np.zeros((28, 28), np.uint8)
    bar[13:15, 4:24] = 255  # horizontal, centred on (13.5, 13.5)
    disk = np.zeros((28, 28), np.uint8)
    rows, cols = np.indices(disk.shape)
    disk[(rows - 13.5) ** 2 + (cols - 13.5) ** 2 <= 36] = 255
    angles = set()
    for seed in range(6):
        angle = orientation(mnist_c.rotate(bar, severity, rng(seed)))
        assert abs(abs(angle) - c) < 0.02
        angles.add(np.sign(angle))
        assert change(mnist_c.rotate(disk, severity, rng(seed)), disk) < 8  # edges only
    assert angles == {-1.0, 1.0}


@pytest.mark.parametrize("shape", [(28, 28), (20, 24), (56, 56)])
def test_translate_moves_the_centre_of_mass(shape):
    blob = np.zeros(shape, np.uint8)
    blob[shape[0] // 2 - 3:shape[0] // 2 + 3, shape[1] // 2 - 2:shape[1] // 2 + 3] = 180

    def centre(x):
        return np.array(ndimage.center_of_mass(x.astype(np.float64)))

    for severity in SEVERITIES:
        c = (1, 2, 3, 4, 5)[severity - 1]
        expected = [max(1, math.floor(c * side / 28 + 0.5)) for side in shape]
        moves = set()
        for seed in range(8):
            out = mnist_c.translate(blob, severity, rng(seed))
            assert out.sum() == blob.sum()  # whole-pixel shift, nothing cut off
            move = centre(out) - centre(blob)
            np.testing.assert_allclose(np.abs(move), expected, atol=1e-9)
            moves.add(tuple(np.sign(move)))
        assert len(moves) >= 3  # the two signs are drawn independently


# ------------------------------------------------------------------ photometric


def test_brightness_by_hand_and_against_the_hsv_route():
    flat = np.full((10, 10), 100, np.uint8)
    # 100 + 255 c: .1 -> 125.5 (rounded half to even: 126), .2 -> 151, .5 -> 227.5 -> 228
    assert (mnist_c.brightness(flat, 1, None) == 126).all()
    assert (mnist_c.brightness(flat, 2, None) == 151).all()
    assert (mnist_c.brightness(flat, 5, None) == 228).all()
    assert (mnist_c.brightness(np.full((9, 9), 101, np.uint8), 1, None) == 126).all()
    assert (mnist_c.brightness(np.full((9, 9), 200, np.uint8), 5, None) == 255).all()
    # the original's grey -> RGB -> HSV, V + c, -> RGB -> grey, for every grey level
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for severity in SEVERITIES:
        hsv = color.rgb2hsv(color.gray2rgb(levels / 255.0))
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1], 0, 1)
        grey = color.rgb2gray(color.hsv2rgb(hsv))
        original = np.round((np.clip(grey, 0, 1) * 255).astype(np.float32)).astype(np.uint8)
        np.testing.assert_array_equal(mnist_c.brightness(levels, severity, None), original)


@pytest.mark.parametrize("shape, band", [((28, 28), 7), ((20, 24), 6), ((8, 10), 3)])
def test_stripe_inverts_a_quarter_each_side(shape, band):
    image = rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    out = mnist_c.stripe(image, 3, None)
    width = shape[1]
    np.testing.assert_array_equal(out[:, :band], 255 - image[:, :band])
    np.testing.assert_array_equal(out[:, width - band:], 255 - image[:, width - band:])
    np.testing.assert_array_equal(out[:, band:width - band], image[:, band:width - band])


@pytest.mark.parametrize("severity", SEVERITIES)
def test_fog_never_exceeds_the_image_maximum(severity, digits):
    thickness = (1.5, 2.0, 2.5, 2.5, 3.0)[severity - 1]
    black = np.zeros((28, 28), np.uint8)
    assert not mnist_c.fog(black, severity, rng(0)).any()  # (x + t F) * 0 / (0 + t)
    white = np.full((28, 28), 255, np.uint8)
    out = mnist_c.fog(white, severity, rng(0))
    assert out.min() >= math.floor(255 / (1 + thickness)) and out.max() <= 255
    assert out.std() > 1  # a pattern, not a constant
    for x in digits[:3]:
        out = mnist_c.fog(x, severity, rng(1))
        assert out.max() <= x.max()
        assert out[x == 0].mean() > 20  # the background is fogged


def test_fog_fractal_window_is_the_full_maps_crop():
    full = mnist_c._plasma_fractal(rng(4), 1.7)
    assert full.shape == (256, 256) and full.min() == 0.0 and full.max() == 1.0
    window = mnist_c._plasma_fractal(rng(4), 1.7, window=(28, 21))
    np.testing.assert_array_equal(window, full[:28, :21])


@pytest.mark.parametrize("severity", SEVERITIES)
def test_spatter_paints_mud_of_grey_63(severity):
    black = np.zeros((28, 28), np.uint8)
    white = np.full((28, 28), 255, np.uint8)
    painted = 0
    for seed in range(6):
        out = mnist_c.spatter(black, severity, rng(seed))
        mud = out[out != 0]
        assert ((mud >= 50) & (mud <= 63)).all()  # 63 m with m in [.8, 1]
        out = mnist_c.spatter(white, severity, rng(seed))
        mud = out[out != 255]
        assert ((mud >= 63) & (mud <= 102)).all()  # 255 (1 - m) + 63 m
        painted += mud.size
    assert painted > 0


# ------------------------------------------------------------------ occlusion


def test_dotted_line_by_hand(digits):
    black = np.zeros((28, 28), np.uint8)
    cols = np.arange(28)
    gaps = ((cols // 2) % 2 == 0) | (cols == 27)  # [0, 2), [4, 6), ... and the last column
    for seed in range(10):
        out = mnist_c.dotted_line(black, 1, rng(seed))
        assert not out[:, gaps].any()
        dashes = out[:, ~gaps]
        assert (dashes.max(axis=0) >= 192).all()  # a row within .5 of the line: >= .755
        assert ((dashes > 0).sum(axis=0) <= 3).all()  # the line is < 2.91 rows thick
    for x in digits[:3]:
        assert (mnist_c.dotted_line(x, 1, rng(0)) >= x).all()


def test_zigzag_by_hand(digits):
    black = np.zeros((28, 28), np.uint8)
    for seed in range(10):
        out = mnist_c.zigzag(black, 1, rng(seed))
        cols = np.nonzero(out.any(axis=0))[0]
        assert cols.min() == 2 and cols.max() <= 25  # from column 2 to about 25
        assert out[:, 2:25].any(axis=0).all()  # unbroken
        assert out.max() == 255
    for x in digits[:3]:
        assert (mnist_c.zigzag(x, 1, rng(0)) >= x).all()


def test_canny_edges_outline_a_square():
    square = np.zeros((28, 28), np.uint8)
    square[8:20, 8:20] = 255
    out = mnist_c.canny_edges(square, 1, None)
    assert set(np.unique(out)) == {0, 255}
    ring = np.zeros((28, 28), bool)
    ring[6:22, 6:22] = True
    ring[10:18, 10:18] = False  # within 2 pixels of the square's border
    assert not out[~ring].any()
    for side in (out[6:10, 10:18], out[18:22, 10:18], out[10:18, 6:10], out[10:18, 18:22]):
        assert side.any()
