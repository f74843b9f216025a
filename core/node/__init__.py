"""DICOM network node: receive chest X-rays by C-STORE, score them, send the results back.

No Qt here. The pieces, in the order an instance meets them:

- :mod:`core.node.config`: :class:`NodeSettings` (AE title, port, bind address, allowed callers,
  destination, inbox folder, size limit), saved as JSON in the user config folder.
- :mod:`core.node.scp`: the Storage SCP (pynetdicom). An instance is written to the inbox and
  fsynced *before* the success status goes back.
- :mod:`core.node.inbox`: the inbox folder and its journal; what was acknowledged but not yet
  scored is found again on restart.
- :mod:`core.node.worker`: one thread that scores queued instances with a scorer callable and,
  when a destination is set, sends the results.
- :mod:`core.node.results`: the Secondary Capture (heat map, burned-in score) and the
  Comprehensive SR built with highdicom.
- :mod:`core.node.send`: C-STORE SCU to the destination.
- :mod:`core.node.worklist`: the rows a reader sees (no patient identifier in clear).
- :mod:`core.node.service`: :class:`Node`, which wires them together for the CLI and the GUI.
"""
