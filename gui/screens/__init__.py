"""The main window's screens (one tab each): views of what :mod:`core` computes."""
