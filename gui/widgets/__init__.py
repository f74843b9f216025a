"""Widgets the screens are built from: banner, viewer, plots, tables, forms and screen parts."""
