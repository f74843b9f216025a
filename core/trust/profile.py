"""Site (operating) profiles: a site's own threshold for a model, kept beside, never inside, its bundle.

A profile is a small JSON file in the user data folder, named by the sha256 of the model it belongs
to (``<user data>/profiles/<sha256>.json``). It records the threshold, how and by whom it was chosen,
on which site data (a hash of the set and its counts) and the honest figures measured on the part of
that data the choice never saw. The bundle itself is never changed, so reverting to the shipped
threshold is one action (:func:`clear_profile`), and a profile made for another model is refused.

Bundles are duck-typed here (``.sha256``, ``.threshold``, ``.card``, ``.path``) so this module does
not depend on the learning layer.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import PneumoscopeError, fraction_problem
from core.paths import atomic_open, user_data_dir

PROFILE_FORMAT = 1
KINDS = ("site", "adopted")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


class ProfileError(PneumoscopeError):
    """A site profile cannot be read, trusted or written (the message says why)."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass
class SiteProfile:
    threshold: float
    chooser: str
    reason: str
    user: str
    bundle_sha256: str
    created: str = field(default_factory=_now)
    site_set_sha256: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    holdout: float = 0.0
    name: str | None = None
    kind: str = "site"

    def __post_init__(self) -> None:
        try:
            self.threshold = float(self.threshold)
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"a site threshold must be a number, not {self.threshold!r}") from exc
        if not (math.isfinite(self.threshold) and 0.0 <= self.threshold <= 1.0):
            raise ProfileError(f"a site threshold must be between 0 and 1, not {self.threshold}")
        if self.kind not in KINDS:
            raise ProfileError(f"unknown profile kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if not isinstance(self.bundle_sha256, str) or not _SHA_RE.fullmatch(self.bundle_sha256):
            raise ProfileError("a site profile must name the sha256 of the model it was made for")
        problem = fraction_problem(self.holdout, "held-out")
        if problem:
            raise ProfileError(problem)
        self.holdout = float(self.holdout)

    @property
    def date(self) -> str:
        return str(self.created)[:10]

    @property
    def n_cases(self) -> int | None:
        """Cases the threshold was chosen on (``None`` when not recorded)."""
        for key in ("choose", "cases"):
            value = self.counts.get(key)
            if isinstance(value, int):
                return value
        return None

    def describe(self) -> str:
        """One line for status bars and reports, e.g. "site threshold 0.710, set 2026-12-02 on 180 cases"."""
        what = "site threshold" if self.kind == "site" else "adopted threshold"
        text = f"{what} {self.threshold:.3f}, set {self.date}"
        n = self.n_cases
        if n is not None:
            text += f" on {n} cases"
        if self.kind == "adopted" and self.user:
            text += f" by {self.user}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteProfile:
        if not isinstance(data, dict):
            raise ProfileError("a site profile must be a JSON object")
        fmt = data.get("format", PROFILE_FORMAT)
        if fmt != PROFILE_FORMAT:
            raise ProfileError(f"this site profile has format {fmt}; this version reads format {PROFILE_FORMAT}")
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ("threshold", "chooser", "reason", "user", "bundle_sha256") if k not in data]
        if missing:
            raise ProfileError(f"the site profile lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known})


def _is_bundle(obj: Any) -> bool:
    return hasattr(obj, "sha256") and hasattr(obj, "card")


def profiles_dir() -> Path:
    path = user_data_dir() / "profiles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def profile_path(bundle: Any) -> Path:
    """Where the active profile of ``bundle`` (or of a model sha256 string) lives."""
    sha = bundle if isinstance(bundle, str) else str(bundle.sha256)
    if not _SHA_RE.fullmatch(sha):
        raise ProfileError(f"not a model sha256: {sha!r}")
    return profiles_dir() / f"{sha}.json"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def save_profile(profile: SiteProfile, path: str | os.PathLike[str] | None = None, bundle: Any = None) -> Path:
    """Write ``profile`` atomically (default: the active profile location of its model).

    With ``bundle`` given, the profile must belong to it and may not be written inside its folder.
    """
    if bundle is not None and str(bundle.sha256) != profile.bundle_sha256:
        raise ProfileError("this site profile was made for another model; it cannot be saved for this one")
    dest = Path(path) if path is not None else profile_path(profile.bundle_sha256)
    bundle_dir = getattr(bundle, "path", None)
    if bundle_dir is not None and _inside(dest, Path(bundle_dir)):
        raise ProfileError(
            f"a site profile is kept beside the model, never inside its folder ({bundle_dir}); choose another place"
        )
    if dest.is_dir():
        raise ProfileError(f"{dest} is a folder; give a file name for the site profile")
    try:
        text = json.dumps(profile.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"
        with atomic_open(dest, "w", fsync=True, encoding="utf-8") as fh:
            fh.write(text)
    except (OSError, ValueError) as exc:
        raise ProfileError(f"cannot write the site profile {dest}: {getattr(exc, 'strerror', None) or exc}") from exc
    return dest


def _read(path: Path) -> SiteProfile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read the site profile {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"the site profile {path} is not valid JSON (damaged or not a profile)") from exc
    try:
        return SiteProfile.from_dict(data)
    except TypeError as exc:
        raise ProfileError(f"the site profile {path} is malformed: {exc}") from exc


def load_profile(path_or_bundle: Any, bundle: Any = None) -> SiteProfile | None:
    """Read a profile from a file, or the active profile of a bundle (``None`` when it has none).

    A profile whose model sha256 differs from ``bundle``'s is refused with :class:`ProfileError`.
    An explicit path that does not exist is an error too.
    """
    if _is_bundle(path_or_bundle):
        bundle = path_or_bundle
        path = profile_path(bundle)
        if not path.exists():
            return None
    else:
        path = Path(path_or_bundle)
        if not path.is_file():
            raise ProfileError(f"no site profile at {path}")
    profile = _read(path)
    if bundle is not None and profile.bundle_sha256 != str(bundle.sha256):
        raise ProfileError(
            f"the site profile {path.name} was made for another model "
            f"(sha256 {profile.bundle_sha256[:12]}..., this model is {str(bundle.sha256)[:12]}...); "
            "it is not used. Calibrate this model on your site data to make its own profile."
        )
    return profile


def clear_profile(bundle: Any) -> None:
    """Revert to the bundle's own (shipped) threshold: remove its active site profile, if any."""
    path = profile_path(bundle)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ProfileError(f"cannot remove the site profile {path}: {exc.strerror or exc}") from exc


def bundle_threshold_text(bundle: Any) -> str:
    """E.g. "validation threshold 0.560 (sens:0.95)", from the bundle's card."""
    thr = (getattr(bundle, "card", None) or {}).get("threshold") or {}
    method, on = thr.get("method"), thr.get("chosen_on")
    value = f"{float(bundle.threshold):.3f}"
    if method in (None, "manual") and thr.get("adopted_by"):
        return f"threshold {value} adopted by {thr['adopted_by']}"
    where = "validation threshold" if on in ("val", "validation") else "model threshold"
    return f"{where} {value} ({method})" if method else f"{where} {value}"


def active_threshold(bundle: Any) -> tuple[float, str]:
    """The threshold in force for ``bundle`` and a line saying where it comes from.

    A valid site profile for this model's sha256 wins; otherwise the bundle's own threshold. A
    damaged or mismatched profile is ignored (and the text says so) rather than trusted.
    """
    try:
        profile = load_profile(bundle)
    except ProfileError as exc:
        return float(bundle.threshold), f"{bundle_threshold_text(bundle)}; site profile ignored: {exc}"
    if profile is None:
        return float(bundle.threshold), bundle_threshold_text(bundle)
    return profile.threshold, profile.describe()


def put_in_force(profile: SiteProfile, bundle: Any) -> Path:
    """Make ``profile`` the one in force for ``bundle`` (refused if made for another model) and audit it."""
    from core.trust.audit import AuditLog

    path = save_profile(profile, profile_path(bundle), bundle=bundle)
    AuditLog().threshold_adopted(
        profile.threshold, profile.chooser, profile.reason, bundle=bundle, adopted_by=profile.user,
        source=f"{profile.kind} profile", site_set_sha256=profile.site_set_sha256, counts=profile.counts,
    )
    return path


def revert(bundle: Any) -> tuple[float, str, bool]:
    """One action back to the model's own threshold: (value, text, whether a profile was removed)."""
    from core.trust.audit import AuditLog

    try:
        had = load_profile(bundle) is not None
    except ProfileError:  # a damaged or foreign profile is removed all the same
        had = True
    clear_profile(bundle)
    value, text = active_threshold(bundle)
    if had:
        AuditLog().threshold_adopted(value, "revert", "site profile removed; the model's own threshold is in "
                                     "force again", bundle=bundle, source="revert")
    return value, text, had
