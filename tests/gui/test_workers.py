"""A finished worker lets go of its job's inputs (issue 20, item 7: Review's memory).

Qt's thread pool keeps every runnable it was given, so a worker that held its arguments kept
each image Review ever scored alive (about 1 MB a 1024 px case)."""

from __future__ import annotations

import gc
import weakref

import numpy as np


def test_finished_worker_does_not_keep_its_arguments(qtbot):
    from gui.workers.runner import Worker, WorkerRunner

    runner = WorkerRunner(1)
    refs, workers = [], []
    for _ in range(3):
        image = np.zeros((256, 256), np.uint8)
        refs.append(weakref.ref(image))
        worker = Worker(lambda pixels: int(pixels.sum()), image)
        del image
        with qtbot.waitSignal(worker.signals.done, timeout=10000):
            runner.start(worker)
        workers.append(worker)  # as callers do, to wait or cancel
    runner.wait(10000)
    qtbot.wait(50)
    gc.collect()
    assert [r() is None for r in refs] == [True, True, True]
    assert not runner.busy()
