"""Our neural path against the official SimSwap preprocessing, on SimSwap-shaped graphs (224, 512).

The reference below is written from reading github.com/neuralchen/SimSwap (test_*_swap*.py,
insightface_func/face_detect_crop_single.py, insightface_func/utils/face_align_ffhqandnewarc.py,
models/fs_model.py); none of its code is copied in. What it does:
  * crop: ``estimate_norm(kps, crop_size, mode)`` with mode "None" for 224 (five head-pose
    templates in a 112 frame scaled by crop_size/112, the best-fitting one by summed point
    distance) and "ffhq" for 512 (one 5-point template in a 512 frame); skimage similarity;
    ``cv2.warpAffine`` of the 8-bit BGR frame, black border;
  * generator input: the crop as RGB / 255, no mean/std; output ``(tanh + 1) / 2``;
  * identity: the source crop normalised with ImageNet mean/std, ``F.interpolate`` to 112
    (nearest), its ArcFace, then ``F.normalize`` (L2).
Measured on insightface's t1.jpg (five faces whose crop lies inside the photo), max abs: crop
0.51/255 at 224 and 512 (the reference rounds its warp to uint8), model output 0.44/255 (224) and
0.57/255 (512), latent 8e-9 for the same ArcFace output vector, transform 1e-4 (224; the
templates are float32 there) and 1e-12 (512).
Not covered: the ArcFace input itself (ImageNet normalisation, nearest 112 downsample). Our
recognizers crop with the ArcFace template, so a SimSwap identity comes from whichever
--recognizer the user passes; see docs/MODELS.md.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.render.engines.neural import NeuralSwapper, _template_transform
from faceplate.core.models.contract import SIMSWAP_CONTRACT, infer_swapper_contract
from faceplate.core.colour import ColourPipeline
from tests.onnx_export.swapper_graphs import (RecordingSession, faces_inside, insightface_image, quiet_session,
                                              swapper_graph)

ONE_STEP = 1.0 / 255.0

# --- reference: SimSwap's preprocessing as its repository does it --------------------------------
_POSE_TEMPLATES_112 = np.array([
    [[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]],   # left profile
    [[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]],   # left
    [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]],   # frontal
    [[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]],   # right
    [[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]]],  # right profile
    dtype=np.float32)
_FFHQ_TEMPLATE_512 = np.array([[[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                                [201.26117, 371.41043], [313.08905, 371.15118]]])


def reference_transform(kps: np.ndarray, crop_size: int) -> np.ndarray:
    from skimage import transform as trans

    templates = _FFHQ_TEMPLATE_512 * crop_size / 512 if crop_size == 512 else _POSE_TEMPLATES_112 * crop_size / 112
    homogeneous = np.insert(kps, 2, values=np.ones(5), axis=1)
    best, best_error = None, float("inf")
    for template in templates:
        tform = trans.SimilarityTransform()
        tform.estimate(kps, template)
        m = tform.params[0:2, :]
        error = np.sum(np.sqrt(np.sum((np.dot(m, homogeneous.T).T - template) ** 2, axis=1)))
        if error < best_error:
            best, best_error = m, error
    return best


def reference_generator_input(bgr: np.ndarray, kps: np.ndarray, crop_size: int) -> np.ndarray:
    crop = cv2.warpAffine(bgr, reference_transform(kps, crop_size), (crop_size, crop_size), borderValue=0.0)
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


def reference_latent(arcface_output: np.ndarray) -> np.ndarray:
    import torch

    return torch.nn.functional.normalize(torch.from_numpy(arcface_output), p=2, dim=1).numpy()


# --- the comparison ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo():
    bgr = cv2.imread(str(insightface_image()))
    return bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("size,alignment", [(224, "newarc"), (512, "ffhq5")])
def test_simswap_crop_latent_and_output_match_the_official_preprocessing(photo, tmp_path, size, alignment):
    bgr, rgb = photo
    path = swapper_graph(tmp_path / f"simswap_{size}.onnx", size, emap=False, seed=size)
    contract = infer_swapper_contract(str(path), path.name)
    assert (contract.family, contract.alignment, contract.latent, contract.input_size) == \
        ("simswap", alignment, "embedding", (size, size))
    session = RecordingSession(quiet_session(path))
    ours = NeuralSwapper.from_onnx(str(path), contract, path.stem, "test", session=session)
    reference_session = quiet_session(path)
    colour = ColourPipeline()
    plate = colour.from_uint8(rgb)
    faces = faces_inside(rgb, lambda p: reference_transform(p, size), size)
    assert len(faces) >= 3
    arcface_output = np.random.default_rng(size).standard_normal((1, 512)).astype(np.float32) * 7.0
    worst = {"transform": 0.0, "crop": 0.0, "output": 0.0, "latent": 0.0}
    for points5 in faces:
        expected_in = reference_generator_input(bgr, points5, size)
        expected_latent = reference_latent(arcface_output)
        expected_out = reference_session.run(None, {"target": expected_in, "source": expected_latent})[0]
        ours.swap(plate, None, points5, colour=colour, latent=ours.latent(arcface_output[0]), colour_match_on=False)
        m = _template_transform(contract, None, points5, size)
        worst["transform"] = max(worst["transform"], float(np.abs(m - reference_transform(points5, size)).max()))
        worst["crop"] = max(worst["crop"], float(np.abs(session.feeds[ours.target_input] - expected_in).max()))
        worst["latent"] = max(worst["latent"], float(np.abs(session.feeds[ours.source_input] - expected_latent).max()))
        worst["output"] = max(worst["output"], float(np.abs(session.output - expected_out).max()))
    print(f"simswap {size} parity over {len(faces)} faces, max abs:",
          {k: (f"{v * 255:.3f}/255" if k in ("crop", "output") else f"{v:.2g}") for k, v in worst.items()})
    assert worst["transform"] < 2e-3
    assert worst["crop"] <= ONE_STEP
    assert worst["latent"] < 1e-6
    assert worst["output"] <= ONE_STEP


def test_pose_templates_pick_the_profile_template_for_a_turned_head():
    """A head turned to a profile fits the profile template best, as in SimSwap's selection."""
    from faceplate.core.models.contract import ModelContract

    contract = ModelContract.from_dict({**SIMSWAP_CONTRACT, "inputs": {}})
    for index in (0, 2, 4):
        kps = _POSE_TEMPLATES_112[index].astype(np.float64) * 3.1 + np.array([400.0, 250.0])
        m = _template_transform(contract, None, kps, 224)
        mapped = kps @ m[:, :2].T + m[:, 2]
        assert np.abs(mapped - _POSE_TEMPLATES_112[index] * 2).max() < 1e-3
        assert np.allclose(m, reference_transform(kps, 224), atol=1e-3)
