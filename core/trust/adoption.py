"""Adopting a threshold for a model, and going back to the one it shipped with.

An adopted threshold is a profile of kind "adopted" kept beside the model (:mod:`core.trust.profile`,
keyed by the model's sha256), never a change to the bundle: so it survives a restart, Review and
``pneumoscope-cli ... default`` both use it, the shipped bundle and its hashes stay untouched, and
reverting is one call (:func:`revert_threshold`). Both are written to the audit log.
"""

from __future__ import annotations

from typing import Any

from core.trust.audit import AuditLog
from core.trust.profile import SiteProfile, active_threshold, clear_profile, load_profile, save_profile


def adopt_threshold(
    bundle: Any, value: float, chooser: str, reason: str, user: str, n_cases: int | None = None,
    chosen_on: str = "validation",
) -> tuple[float, str]:
    """Record ``value`` as the threshold in force for ``bundle``; returns (threshold, where it comes from)."""
    counts: dict[str, Any] = {"chosen_on": chosen_on}
    if n_cases is not None:
        counts["cases"] = int(n_cases)
    previous = active_threshold(bundle)[0]
    profile = SiteProfile(threshold=value, chooser=chooser, reason=reason, user=user,
                          bundle_sha256=str(bundle.sha256), counts=counts, kind="adopted",
                          name=str(getattr(bundle, "name", "") or "") or None)
    path = save_profile(profile, bundle=bundle)
    AuditLog().threshold_adopted(profile.threshold, chooser, reason, bundle=bundle, adopted_by=user,
                                 previous=previous, profile=path.name, chosen_on=chosen_on)
    return active_threshold(bundle)


def has_own_threshold(bundle: Any) -> bool:
    """Does a profile (adopted or site) set this model's threshold, so that reverting would change it?"""
    try:
        return load_profile(bundle) is not None
    except Exception:  # a damaged profile is not in force (active_threshold ignores it)
        return False


def revert_threshold(bundle: Any, user: str | None = None) -> tuple[float, str]:
    """Back to the threshold the model shipped with: remove its profile and log that; returns the new pair."""
    previous = active_threshold(bundle)[0]
    clear_profile(bundle)
    value, source = active_threshold(bundle)
    AuditLog().log("threshold_reverted", value=value, previous=previous, bundle_sha256=str(bundle.sha256),
                   reverted_by=user or None)
    return value, source
