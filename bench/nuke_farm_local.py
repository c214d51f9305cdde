"""Run a FaceSwap farm job's tasks locally, as a farm would, and check chunking changes nothing.

    python bench/nuke_farm_local.py [--frames 6] [--chunk 2]

Makes the sample plate beside a copy of examples/faceswap_example.nk, builds the job with
faceplate.nuke.farm (what Submit / `faceplate farm submit` build), runs the analyze task, then
every render task with OpenCue's frame tokens substituted; then renders all frames in one task
into a second cache and compares the face patches byte for byte. Prints timings.
"""
from __future__ import annotations

import argparse
import hashlib
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from faceplate.core.cli.sample import make_sample
from faceplate.nuke import farm

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "faceswap_example.nk"


def run(line: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(shlex.split(line), check=True, capture_output=True)
    return time.perf_counter() - t0


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.exr"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--chunk", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nk = root / EXAMPLE.name
        shutil.copy(EXAMPLE, nk)
        make_sample(str(root / "faceplate_sample"), frames=a.frames)
        last = 1000 + a.frames
        job = farm.job_from_nk(str(nk), "FaceSwap1", frames=(1001, last), chunk=a.chunk)
        t_an = run(farm.command_line(job.analyze, farm.OPENCUE_TOKENS))
        template = farm.command_line(job.render, farm.OPENCUE_TOKENS)
        t_tasks = []
        for s, e in job.chunks():
            t_tasks.append(run(template.replace("#FRAME_START#", str(s)).replace("#FRAME_END#", str(e))))
        patches = root / "faceplate_sample" / "cache" / "patch"
        chunked = digest(patches)
        shutil.rmtree(patches)
        t_one = run(template.replace("#FRAME_START#", "1001").replace("#FRAME_END#", str(last)))
        single = digest(patches)
        print(f"{a.frames} frames 1024x576: analyze task {t_an:.1f}s; {len(t_tasks)} render tasks of {a.chunk} "
              f"frames {sum(t_tasks):.1f}s total ({', '.join(f'{t:.1f}' for t in t_tasks)}); one task {t_one:.1f}s")
        differ = sorted(k for k in set(chunked) | set(single) if chunked.get(k) != single.get(k))
        print(f"patches identical between chunked and single-task renders: {not differ} "
              f"({len(single)} files{'; differ: ' + ', '.join(differ) if differ else ''})")


if __name__ == "__main__":
    main()
