# Runs in the frozen app before any of its code (PyInstaller custom run-time hook).
import os

# One matplotlib backend, pinned: the GUI embeds QtAgg canvases; core draws on Agg Figures
# explicitly and never asks matplotlib to pick a backend.
os.environ.setdefault("MPLBACKEND", "QtAgg")
# PyInstaller's own matplotlib hook (which runs after this one) points MPLCONFIGDIR at a fresh
# temporary folder on every start, so the font cache would be rebuilt at each launch. Remember
# whether the user chose a folder; the launcher then moves it to a persistent cache folder.
os.environ["PNEUMOSCOPE_USER_MPLCONFIGDIR"] = os.environ.get("MPLCONFIGDIR", "")

# TensorFlow's remote-profiling client (20 MiB of native code) is imported with TensorFlow but
# only used by tf.profiler.experimental.client.trace/monitor, which the app never calls; the spec
# leaves the library out and this placeholder stands in for it, failing plainly if ever used.
import sys
import types

_plugin = "tensorflow.python.profiler.internal._pywrap_profiler_plugin"
if _plugin not in sys.modules:
    _stub = types.ModuleType(_plugin, "left out of the Pneumoscope app: remote TensorFlow profiling is not included")

    def _not_included(*_args, **_kwargs):
        raise RuntimeError("remote TensorFlow profiling is not included in the Pneumoscope app")

    _stub.__getattr__ = lambda name: _not_included  # any attribute is a function that says so
    sys.modules[_plugin] = _stub
