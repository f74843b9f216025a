"""Dialogs: about, help, threshold adoption."""
