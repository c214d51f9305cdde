"""Our neural path against insightface's own ``INSwapper`` on an inswapper-shaped graph.

Same photo (insightface's sample t1.jpg, six real faces), same 5 points, same identity vector on
both sides (the recognizer is not under test). Measured on this file (max over the five faces
whose crop lies inside the photo), in 8-bit steps:
  aligned crop 0.50/255 (the reference rounds its warp to uint8), latent 4e-8, model output
  0.46/255, swapped image inside the reference's eroded matte 2.7/255 (99th percentile 2.2/255).
The paste-back tolerance is 4/255 (99th percentile 3/255): the reference truncates twice
(``astype(uint8)`` of 255·pred and of the merge: up to 2/255 low), rounds its uint8 warp back
(0.5/255), and resamples its output back in display space where we resample the change in linear
light (a fraction of a step on this graph's output; more on harder edges).
Our composite as a whole differs more (43/255 here) by design: it keeps the plate detail that the
reference's double 8-bit resampling loses (up to 35/255 on this photo, measured below).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.geometry import align
from faceplate.core.render.engines.neural import NeuralSwapper
from faceplate.core.models.contract import INSWAPPER_CONTRACT, infer_swapper_contract
from faceplate.core.colour import ColourPipeline
from tests.onnx_export.swapper_graphs import (RecordingSession, faces_inside, insightface_image, quiet_session,
                                              swapper_graph)

insightface = pytest.importorskip("insightface")
ONE_STEP = 1.0 / 255.0


class _Face:   # what INSwapper.get reads from insightface's Face objects
    def __init__(self, kps=None, normed_embedding=None):
        self.kps, self.normed_embedding = kps, normed_embedding


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from insightface.model_zoo.inswapper import INSwapper

    path = swapper_graph(tmp_path_factory.mktemp("ins") / "inswapper_128.onnx", 128, emap=True)
    bgr = cv2.imread(str(insightface_image()))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    ref_session = RecordingSession(quiet_session(path))
    reference = INSwapper(str(path), session=ref_session)
    contract = infer_swapper_contract(str(path), path.name)
    our_session = RecordingSession(quiet_session(path))
    ours = NeuralSwapper.from_onnx(str(path), contract, "inswapper_128", "test", session=our_session)
    embedding = np.random.default_rng(1).standard_normal(512).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    faces = faces_inside(rgb, lambda p: align.arcface_transform(p, 128), 128)
    assert len(faces) >= 4
    return dict(bgr=bgr, rgb=rgb, reference=reference, ref_session=ref_session, ours=ours,
                our_session=our_session, embedding=embedding, faces=faces, colour=ColourPipeline())


def _run_both(setup, points5):
    ref, ours, colour = setup["reference"], setup["ours"], setup["colour"]
    merged = ref.get(setup["bgr"], _Face(kps=points5.astype(np.float32)),
                     _Face(normed_embedding=setup["embedding"]), paste_back=True)
    plate = colour.from_uint8(setup["rgb"])
    result = ours.swap(plate, None, points5, colour=colour, latent=ours.latent(setup["embedding"]),
                       colour_match_on=False)
    return merged, plate, result


def test_inswapper_contract_is_recognised():
    assert INSWAPPER_CONTRACT["alignment"] == "arcface112" and INSWAPPER_CONTRACT["latent"] == "emap"


def test_crop_latent_and_output_equal_insightface_within_one_step(setup):
    ours, rs, os_ = setup["ours"], setup["ref_session"], setup["our_session"]
    worst = {"crop": 0.0, "latent": 0.0, "output": 0.0, "transform": 0.0}
    for points5 in setup["faces"]:
        _run_both(setup, points5)
        _, m_ref = insightface.utils.face_align.norm_crop2(setup["bgr"], points5.astype(np.float32), 128)
        ref_in, ref_latent = rs.feeds[setup["reference"].input_names[0]], rs.feeds[setup["reference"].input_names[1]]
        worst["transform"] = max(worst["transform"], float(np.abs(align.arcface_transform(points5, 128) - m_ref).max()))
        worst["crop"] = max(worst["crop"], float(np.abs(os_.feeds[ours.target_input] - ref_in).max()))
        worst["latent"] = max(worst["latent"], float(np.abs(os_.feeds[ours.source_input] - ref_latent).max()))
        worst["output"] = max(worst["output"], float(np.abs(os_.output - rs.output).max()))
    print("inswapper parity, max abs:", {k: (f"{v * 255:.3f}/255" if k in ("crop", "output") else f"{v:.2g}")
                                        for k, v in worst.items()})
    assert worst["transform"] < 2e-3          # same template (theirs float32), same similarity fit
    assert worst["crop"] <= ONE_STEP
    assert worst["latent"] < 1e-6
    assert worst["output"] <= ONE_STEP


def _reference_full_matte(shape, m):
    """Where INSwapper's paste-back mask is 1: its own erode + blur of the warped-back crop square."""
    inv = cv2.invertAffineTransform(m)
    white = cv2.warpAffine(np.full((128, 128), 255, np.float32), inv, (shape[1], shape[0]), borderValue=0.0)
    white[white > 20] = 255
    rows, cols = np.where(white == 255)
    size = int(np.sqrt((rows.max() - rows.min()) * (cols.max() - cols.min())))
    k = max(size // 10, 10)
    eroded = cv2.erode(white, np.ones((k, k), np.uint8), iterations=1)
    k = max(size // 20, 5)
    return cv2.GaussianBlur(eroded, (2 * k + 1, 2 * k + 1), 0) / 255.0 >= 1.0 - 1e-6


def test_composited_region_matches_the_reference_paste_back_inside_its_eroded_matte(setup):
    colour, os_ = setup["colour"], setup["our_session"]
    worst_swap, worst_composite, worst_detail, p99 = 0.0, 0.0, 0.0, 0.0
    for points5 in setup["faces"]:
        merged, plate, result = _run_both(setup, points5)
        m = align.arcface_transform(points5, 128)
        h, w = plate.shape[:2]
        inside = _reference_full_matte(plate.shape, m) & (result.coverage >= 1.0 - 1e-6)
        assert inside.sum() > 5000
        reference = merged[..., ::-1].astype(np.float32) / 255.0
        # Our composite is plate + delta. Taking away the plate detail it keeps (plate minus the
        # crop warped back) leaves the swapped image we placed, comparable with the reference's.
        crop_in_linear = colour.to_linear(os_.feeds[setup["ours"].target_input][0].transpose(1, 2, 0))
        crop_back = cv2.warpAffine(crop_in_linear, m, (w, h), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
        swapped = colour.to_model(crop_back + result.delta)
        composite = colour.to_model(plate + result.delta)
        swap_diff = np.abs(swapped - reference).max(axis=2)[inside]
        worst_swap, p99 = max(worst_swap, float(swap_diff.max())), max(p99, float(np.percentile(swap_diff, 99)))
        worst_composite = max(worst_composite, float(np.abs(composite - reference).max(axis=2)[inside].max()))
        round_trip = cv2.warpAffine(cv2.warpAffine(setup["bgr"], m, (128, 128)), cv2.invertAffineTransform(m), (w, h))
        worst_detail = max(worst_detail, float(np.abs(round_trip.astype(np.float32) - setup["bgr"]).max(axis=2)[inside].max()) / 255)
        # Outside where the engine produced an image the plate is untouched.
        assert not result.delta[result.coverage == 0].any()
    print(f"inswapper paste-back, max abs inside the eroded matte: swapped image {worst_swap * 255:.2f}/255 "
          f"(p99 {p99 * 255:.2f}/255), "
          f"composite {worst_composite * 255:.1f}/255, plate detail the reference loses {worst_detail * 255:.0f}/255")
    assert worst_swap <= 4 * ONE_STEP and p99 <= 3 * ONE_STEP
    # The composite's extra difference is the plate detail: bounded by what the round trip loses plus the swap's.
    assert worst_composite <= worst_detail * 1.6 + 3 * ONE_STEP
