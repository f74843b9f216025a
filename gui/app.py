"""Entry point: ``pneumoscope`` (gui.app:main).

TensorFlow is never imported here: the window appears first and a worker loads
TensorFlow and the default model behind it.
"""

from __future__ import annotations

import sys
import time

from gui.window import application, create_window

T0 = time.perf_counter()


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        # Before any QApplication exists, so the self-test can pick the offscreen platform.
        from gui.selftest import main as self_test

        return self_test(sys.argv[1:])
    app = application()
    window = create_window()
    window.show()
    window.statusBar().showMessage(f"Window ready in {time.perf_counter() - T0:.2f} s", 5000)
    try:
        from core.trust.audit import AuditLog

        AuditLog().app_start()
    except Exception:
        pass
    code = app.exec()
    try:
        from core.trust.audit import AuditLog

        AuditLog().app_stop()
    except Exception:
        pass
    return code


if __name__ == "__main__":
    sys.exit(main())
