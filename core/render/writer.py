"""The writer thread: composited frames and face patches written while the next frame computes.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Optional


class _Writer:
    """Writes frames in a background thread; a bounded queue keeps memory flat."""

    def __init__(self, depth: int):
        self.queue: "queue.Queue[Any]" = queue.Queue(maxsize=max(1, depth))
        self.error: Optional[BaseException] = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="faceplate-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from faceplate.core.io.exr import write_exr

        while True:
            job = self.queue.get()
            if job is None:
                return
            if self.error is not None:
                continue
            try:
                t0 = time.perf_counter()
                for path, frame, extra in job:
                    write_exr(path, frame, extra)
                self.seconds += time.perf_counter() - t0
            except BaseException as exc:  # surfaced in the main thread
                self.error = exc

    def put(self, job: list) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(job)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
