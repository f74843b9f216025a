"""Subcommands of ``pneumoscope-cli``; each module has ``register(subparsers)``."""
