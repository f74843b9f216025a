"""Score a site's cases with a bundle in batches: calibrated scores and, optionally, the OOD gate.

Each image is decoded once (the training loader, with its unreadable-file reporting); files that
cannot be read are listed, never fatal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.imaging.preprocess import batch_to_model_input
from core.learning.data import load_arrays
from core.progress import Cancelled, Progress
from core.site.sets import SiteSet
from core.trust.ood import bundle_spec, ood_score

_CHUNK = 128


class SiteScoringError(PneumoscopeError):
    """The site's images could not be scored (the message says why)."""


@dataclass
class ScoredFiles:
    paths: list[str]  # the files that were scored, in the order given
    scores: np.ndarray  # calibrated P(pneumonia)
    ood: np.ndarray | None  # distance / cut-off (above 1: flagged); None without a gate or not asked
    skipped: list[tuple[str, str]]  # (path, reason)

    @property
    def ood_flags(self) -> np.ndarray | None:
        return None if self.ood is None else self.ood > 1.0


def score_files(
    bundle: Any,
    paths: Sequence[str | os.PathLike[str]],
    with_ood: bool = False,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScoredFiles:
    size, _, channels = bundle.input_shape
    spec = bundle_spec(bundle) if with_ood else None
    paths = [str(p) for p in paths]
    kept: list[str] = []
    scores: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    for start in range(0, len(paths), _CHUNK):
        if should_stop is not None and should_stop():
            raise Cancelled("scoring cancelled")
        part = paths[start:start + _CHUNK]
        x, _, ok_paths, bad = load_arrays(part, size)
        skipped += bad
        if len(x):
            # One model pass gives the scores and, where the gate is asked for, its features.
            s, feats = bundle.scores_and_features_of_input(batch_to_model_input(x, channels),
                                                           want_features=spec is not None)
            scores.append(np.asarray(s, dtype=np.float64))
            if spec is not None:
                dists.append(ood_score(spec, feats))
            kept += ok_paths
        if progress is not None:
            done = min(start + _CHUNK, len(paths))
            progress(Progress("predicting", batch=done, batches=len(paths), fraction=done / max(1, len(paths)),
                              message=f"scored {done}/{len(paths)} images"))
    return ScoredFiles(
        paths=kept,
        scores=np.concatenate(scores) if scores else np.zeros(0),
        ood=(np.concatenate(dists) if dists else np.zeros(0)) if spec is not None else None,
        skipped=skipped,
    )


@dataclass
class ScoredSite:
    site: SiteSet  # only the cases that were scored (the others are in site.unreadable)
    scores: np.ndarray
    ood: np.ndarray | None

    @property
    def y_true(self) -> np.ndarray:
        return self.site.labels


def score_site(
    bundle: Any,
    site: SiteSet,
    with_ood: bool = False,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScoredSite:
    """Score every case of ``site``; unreadable ones move to ``site.unreadable``."""
    result = score_files(bundle, site.paths, with_ood, progress, should_stop)
    scored = site.without(dict(result.skipped))
    if not scored.cases:
        raise SiteScoringError(f"none of the {len(site)} site images could be read; see the list of problems")
    index = {p: i for i, p in enumerate(result.paths)}
    order = np.array([index[c.path] for c in scored.cases], dtype=np.int64)
    ood = None if result.ood is None else result.ood[order]
    return ScoredSite(scored, result.scores[order], ood)


def score_site_folder(
    bundle: Any,
    path: str | os.PathLike[str],
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ScoredSite:
    """Read a labelled site set (folder or CSV) and score every case with the OOD gate."""
    from core.site.sets import read_site_set

    return score_site(bundle, read_site_set(path), with_ood=True, progress=progress, should_stop=should_stop)


def as_scores(scored: ScoredSite, mask: np.ndarray | None = None) -> Any:
    """The scored site as evaluation :class:`~core.evaluation.evaluate.Scores` (split "site")."""
    from core.evaluation.evaluate import Scores

    site = scored.site
    keep = np.ones(len(site), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    return Scores(
        y_true=site.labels[keep],
        y_score=scored.scores[keep],
        files=[n for n, k in zip(site.names, keep, strict=True) if k],
        split="site",
        skipped=list(site.unreadable),
        source=f"site set {Path(site.root).name} ({site.describe()}; sha256 {site.sha256[:12]}), scored now",
        notes=list(site.notes),
    )
