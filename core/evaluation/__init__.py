"""Evaluation: operating points and intervals, calibration, evaluation reports."""
