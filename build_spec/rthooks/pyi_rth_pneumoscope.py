# Runs in the frozen app before any of its code (PyInstaller custom run-time hook).
import os

# One matplotlib backend, pinned: the GUI embeds QtAgg canvases; core draws on Agg Figures
# explicitly and never asks matplotlib to pick a backend.
os.environ.setdefault("MPLBACKEND", "QtAgg")
# PyInstaller's own matplotlib hook (which runs after this one) points MPLCONFIGDIR at a fresh
# temporary folder on every start, so the font cache would be rebuilt at each launch. Remember
# whether the user chose a folder; the launcher then moves it to a persistent cache folder.
os.environ["PNEUMOSCOPE_USER_MPLCONFIGDIR"] = os.environ.get("MPLCONFIGDIR", "")
