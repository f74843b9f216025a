"""Entry point: ``pneumoscope [FILE_OR_FOLDER ...]`` (gui.app:main).

TensorFlow is never imported here: the window appears first and a worker loads TensorFlow and
the active model behind it. Files or folders named on the command line (a file manager's "Open
with") are shown at once and scored as soon as the model is ready.

``--exit-after-first-score`` (for benchmarks/bench_cold_start.py): print one line of JSON with the
seconds from launch to the window, the image on screen, the model ready, the first score and the
heat map, then quit. The clock starts at ``PNEUMOSCOPE_LAUNCHED_AT`` (epoch seconds, set by the
launching process) when given, else when this module is imported.
"""

from __future__ import annotations

import json
import os
import sys
import time

from gui.window import application, create_window

T0 = time.perf_counter()
EXIT_AFTER_FIRST_SCORE = "--exit-after-first-score"


def _launch_clock() -> float:
    """perf_counter() value of the launch (the launcher's clock when it gave one)."""
    launched = os.environ.get("PNEUMOSCOPE_LAUNCHED_AT")
    try:
        return time.perf_counter() - (time.time() - float(launched)) if launched else T0
    except ValueError:
        return T0


def _report_first_score(window, start: float, app) -> None:
    """Print launch-to-first-score timings once the first case has its score and heat map, then quit."""
    marks: dict[str, float] = {"to_window": window.t_shown - start}
    review = window.review

    def on_model_ready() -> None:
        marks["to_model_ready"] = time.perf_counter() - start

    def on_heatmap() -> None:
        t = review.timings
        marks.update({
            "to_case_shown": t.get("t_shown", float("nan")) - start,
            "to_first_score": t.get("t_scored", float("nan")) - start,
            "to_heatmap": t.get("t_heatmap", float("nan")) - start,
            "model_s": t.get("model_s", float("nan")),
        })
        marks.update({f"stage_{k}": v for k, v in window.startup_timings.items()})
        print(json.dumps({k: round(v, 3) for k, v in marks.items()}), flush=True)
        app.quit()

    window.startupFinished.connect(on_model_ready)
    review.heatmapShown.connect(on_heatmap)
    review.loadFailed.connect(lambda msg: (print(json.dumps({"error": msg}), flush=True), app.exit(1)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if "--self-test" in args:
        # Before any QApplication exists, so the self-test can pick the offscreen platform.
        from gui.selftest import main as self_test

        return self_test(args)
    start = _launch_clock()
    paths = [a for a in args if not a.startswith("-")]
    app = application()
    window = create_window()
    window.show()
    window.t_shown = time.perf_counter()
    window.statusBar().showMessage(f"Window ready in {window.t_shown - start:.2f} s", 5000)
    if EXIT_AFTER_FIRST_SCORE in args:
        _report_first_score(window, start, app)
    if paths:
        window.review.open_paths(paths)
    try:
        from core.trust.audit import AuditLog

        AuditLog().app_start()
    except Exception as exc:  # the app runs on without its audit record, but the log says so
        from core.applog import log_failure

        log_failure("Audit record (app_start)", exc)
    code = app.exec()
    try:
        from core.trust.audit import AuditLog

        AuditLog().app_stop()
    except Exception as exc:  # the app runs on without its audit record, but the log says so
        from core.applog import log_failure

        log_failure("Audit record (app_stop)", exc)
    return code


if __name__ == "__main__":
    sys.exit(main())
