"""One scaffold for a screen's background job (issue 20, item 6): gui.widgets.task.BackgroundTask
drives the start button, progress bar, Cancel and the failure banner for every screen's job."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget

from core.progress import Progress

GUI = Path(__file__).resolve().parents[2] / "gui"


def _scaffold(qtbot, **kwargs):
    from gui.widgets.common import MessageBanner
    from gui.widgets.task import BackgroundTask

    host = QWidget()
    qtbot.addWidget(host)
    button, bar, cancel, banner = QPushButton("Go"), QProgressBar(), QToolButton(), MessageBanner("error")
    bar.setRange(0, 1000)
    layout = QVBoxLayout(host)
    for w in (banner, button, bar, cancel):
        layout.addWidget(w)
    host.show()
    task = BackgroundTask(host, button=button, progress=bar, cancel=cancel, banner=banner,
                          failure="Counting stopped", **kwargs)
    task.host = host  # the test holds the task, the task its host window
    return task, button, bar, cancel, banner


def test_a_job_runs_reports_progress_and_returns_to_rest(qtbot):
    task, button, bar, cancel, banner = _scaffold(qtbot)
    assert bar.isHidden() and cancel.isHidden() and button.isEnabled()
    release = threading.Event()

    def job(progress=None):
        progress(Progress("counting", fraction=0.25))
        release.wait(10)
        return 42

    with qtbot.waitSignal(task.progressed, timeout=5000):
        worker = task.start(job)
    assert worker is not None and task.busy()
    assert not button.isEnabled() and bar.isVisible() and bar.value() == 250 and cancel.isEnabled()
    assert task.start(job) is None  # one job at a time
    with qtbot.waitSignal(task.finished, timeout=5000) as done:
        release.set()
    assert done.args == [42] and not task.busy()
    assert bar.isHidden() and cancel.isHidden() and button.isEnabled() and banner.isHidden()


def test_failure_goes_to_the_banner_in_plain_words_but_a_cancel_does_not(qtbot):
    task, button, bar, cancel, banner = _scaffold(qtbot)

    def broken():
        raise FileNotFoundError(2, "No such file or directory", "/data/missing")

    with qtbot.waitSignal(task.failed, timeout=5000):
        task.start(broken)
    assert banner.isVisible() and banner.text().startswith("Counting stopped: ") and "No such file" in banner.text()
    assert button.isEnabled() and bar.isHidden()

    def endless(should_stop=None):
        while not should_stop():
            threading.Event().wait(0.01)
        raise RuntimeError("stopped")

    task.start(endless)
    assert banner.isHidden()  # a new job: the last failure is not about it
    with qtbot.waitSignal(task.failed, timeout=5000):
        cancel.click()
    assert task.cancelled and banner.isHidden() and button.isEnabled() and cancel.isHidden()


def test_every_screen_job_uses_the_scaffold(qtbot, window):
    from gui.widgets.task import BackgroundTask

    window.build_all_screens()
    tasks = [window.review.batch_scoring.task, window.threshold.site_data.task, window.train.training,
             window.train.scanning, window.evaluate.task, window.evaluate.exporting]
    assert all(isinstance(t, BackgroundTask) for t in tasks)
    # and no module wires its own progress bar to its own workers any more
    wired = [p.relative_to(GUI).as_posix() for p in GUI.rglob("*.py")
             if p.name != "task.py" and "QProgressBar(" in (t := p.read_text(encoding="utf-8"))
             and ("WorkerRunner(" in t or "Worker(" in t)]
    assert wired == [], wired


def test_no_gui_module_over_400_lines():
    long = {p.relative_to(GUI).as_posix(): n for p in GUI.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}, long
