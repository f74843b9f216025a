"""Entry script of the frozen app (dist/Pneumoscope/Pneumoscope): the same gui.app.main as the
``pneumoscope`` command, after two settings that only a frozen build needs."""

import multiprocessing
import os
import sys


def _persistent_matplotlib_cache() -> None:
    # See rthooks/pyi_rth_pneumoscope.py: keep matplotlib's font cache between launches unless
    # the user set MPLCONFIGDIR. matplotlib rebuilds the cache itself if the app folder moves.
    if os.environ.get("PNEUMOSCOPE_USER_MPLCONFIGDIR"):
        os.environ["MPLCONFIGDIR"] = os.environ["PNEUMOSCOPE_USER_MPLCONFIGDIR"]
        return
    try:
        import platformdirs

        folder = os.path.join(platformdirs.user_cache_dir("Pneumoscope", "Pneumoscope"), "matplotlib")
        os.makedirs(folder, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = folder
    except OSError:
        pass  # keep PyInstaller's temporary folder: slower start, same behaviour


if __name__ == "__main__":
    multiprocessing.freeze_support()
    _persistent_matplotlib_cache()
    from gui.app import main

    sys.exit(main())
