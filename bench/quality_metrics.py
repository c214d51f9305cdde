"""The quality bench's measurements: plain functions on sRGB code-value images (float, 0..255) and masks.

Every function compares the engine's output with the plate it started from, on the same pixels, so a
figure means the same for any engine. No model here: the judges (quality_judges) give the landmarks.
"""
from __future__ import annotations

import cv2
import numpy as np

# Denominator floor for relative openness errors: a closed eye (about 0.05) or a closed mouth (about 0)
# would otherwise turn a one-pixel landmark wobble into a huge relative error.
OPENNESS_FLOOR = 0.1


def relative_error(swap: float, plate: float, floor: float = OPENNESS_FLOOR) -> float:
    """|swap - plate| / max(plate, floor)."""
    return abs(swap - plate) / max(plate, floor)


def luma(srgb: np.ndarray) -> np.ndarray:
    """Rec.709 luma of sRGB code values (float32)."""
    return (srgb[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32)


def forehead_band(points98: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask from just under the brows up to 0.7 inter-ocular distances above them (the forehead
    and, on a low hairline or fringe, the hair): the band a source's hair or backdrop would paint over."""
    left_eye, right_eye = points98[60:68].mean(axis=0), points98[68:76].mean(axis=0)
    iod = float(np.linalg.norm(right_eye - left_eye))
    brow_line = points98[list(range(33, 38)) + list(range(42, 47))]
    up = brow_line.mean(axis=0) - (left_eye + right_eye) / 2
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    lower = brow_line - 0.1 * iod * up
    upper = brow_line + 0.7 * iod * up
    polygon = np.concatenate([lower, upper[::-1]]).round().astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [polygon], 1)
    return mask.astype(bool)


def mean_abs_change(out: np.ndarray, plate: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute code-value change over the mask (all channels); nan for an empty mask."""
    if not mask.any():
        return float("nan")
    return float(np.abs(out[mask] - plate[mask]).mean())


def skin_colour_error(out: np.ndarray, plate: np.ndarray, mask: np.ndarray, sigma: float) -> float:
    """How far the swap's broad skin colour is from the plate's where the swap lies: the mean over
    ``mask`` of (|Δ log(R / G)| + |Δ log(B / G)|) / 2 of both images low-passed at ``sigma`` px (the
    colour of the skin, not its detail); nan for an empty mask. 0.02 is about a just-visible cast."""
    if not mask.any():
        return float("nan")

    def log_ratios(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        broad = cv2.GaussianBlur(np.maximum(img[..., :3], 0.5).astype(np.float32), (0, 0), max(sigma, 0.5))
        return np.log(broad[..., 0] / broad[..., 1]), np.log(broad[..., 2] / broad[..., 1])

    (r_out, b_out), (r_plate, b_plate) = log_ratios(out), log_ratios(plate)
    return float(0.5 * (np.abs(r_out - r_plate)[mask].mean() + np.abs(b_out - b_plate)[mask].mean()))


def lower_face_skin(points98: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the cheeks, nose and chin (PFLD-98 points), less the eyes and the mouth."""
    mask = np.zeros(shape, np.uint8)
    outline = points98[list(range(4, 29)) + list(range(51, 60))]
    cv2.fillConvexPoly(mask, cv2.convexHull(outline.round().astype(np.int32)), 1)
    for part in (points98[60:68], points98[68:76], points98[76:88]):
        cv2.fillConvexPoly(mask, cv2.convexHull(part.round().astype(np.int32)), 0)
    return mask.astype(bool)


def changed_pixels(out: np.ndarray, plate: np.ndarray, mask: np.ndarray, threshold: float = 1.0) -> tuple[int, int]:
    """(pixels of the mask where any channel moved by more than threshold code values, pixels of the mask)."""
    moved = (np.abs(out - plate) > threshold).any(axis=-1) & mask
    return int(moved.sum()), int(mask.sum())


def motion_compensated_change(previous: np.ndarray, current: np.ndarray, transform: np.ndarray,
                              region: np.ndarray, grain_sigma: float = 1.5) -> float:
    """Mean abs code-value difference between `current` and `previous` warped by `transform` (2x3 or
    3x3, previous -> current pixels) over `region`: what changed once the camera/face motion is removed.
    Both are blurred by grain_sigma first: fresh grain every frame is not flicker, and a swap without
    grain must not look steadier than the plate for it."""
    h, w = current.shape[:2]
    if grain_sigma > 0:
        previous = cv2.GaussianBlur(previous, (0, 0), grain_sigma)
        current = cv2.GaussianBlur(current, (0, 0), grain_sigma)
    warped = cv2.warpAffine(previous, np.asarray(transform, np.float64)[:2], (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
    valid = region & np.isfinite(warped).all(axis=-1)
    if not valid.any():
        return float("nan")
    return float(np.abs(current[valid] - warped[valid]).mean())


def warp_mask(mask: np.ndarray, transform: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    warped = cv2.warpAffine(mask.astype(np.uint8), np.asarray(transform, np.float64)[:2], (w, h),
                            flags=cv2.INTER_NEAREST)
    return warped.astype(bool)


def seam_band(matte: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of the matte's transition (0.02 < matte < 0.98), grown by `width` px on each side."""
    band = ((matte > 0.02) & (matte < 0.98)).astype(np.uint8)
    if width > 0:
        band = cv2.dilate(band, np.ones((2 * width + 1, 2 * width + 1), np.uint8))
    return band.astype(bool)


def gradient_magnitude(srgb: np.ndarray) -> np.ndarray:
    y = luma(srgb)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def highpass(srgb: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Luma minus its Gaussian blur: grain and fine detail."""
    y = luma(srgb)
    return y - cv2.GaussianBlur(y, (0, 0), sigma)


def neighbour_correlation(residual: np.ndarray, region: np.ndarray) -> float:
    """Pearson correlation of horizontally and vertically adjacent residual pixels inside region
    (white noise about 0; film grain and resampled detail 0.3-0.7); mean of the two directions."""
    values = []
    for a, b, ma, mb in ((residual[:, :-1], residual[:, 1:], region[:, :-1], region[:, 1:]),
                         (residual[:-1], residual[1:], region[:-1], region[1:])):
        both = ma & mb
        if both.sum() < 50:
            return float("nan")
        x, y = a[both].astype(np.float64), b[both].astype(np.float64)
        x, y = x - x.mean(), y - y.mean()
        values.append(float((x * y).sum() / max(np.sqrt((x * x).sum() * (y * y).sum()), 1e-12)))
    return float(np.mean(values))


def highpass_energy(residual: np.ndarray, region: np.ndarray) -> float:
    """Mean squared high-pass residual inside region (sharpness and grain together)."""
    return float(np.mean(residual[region] ** 2)) if region.any() else float("nan")


def erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels <= 0:
        return mask
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.erode(mask.astype(np.uint8), kernel).astype(bool)


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 and np.isfinite(numerator) else float("nan")
