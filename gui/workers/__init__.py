"""Background work: :class:`runner.Worker` on the global QThreadPool, so the GUI thread never blocks."""
