"""Parent against fine-tuned child on the same held-out site cases (paired DeLong test).

A child bundle (see :mod:`core.site.finetune`) lists hashed names of the site cases it was trained
or validated on; every other case of the site set is fair for both models. Both are scored on
exactly those cases, each at its own threshold in force, and the AUC difference gets DeLong's
paired test (the two AUCs share cases, so their errors are correlated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.evaluation.curves import paired_auc_test, roc_auc
from core.evaluation.operating import OperatingCurve
from core.learning.bundle import BundleError, default_bundle_path, load_bundle
from core.paths import user_models_dir
from core.site.scoring import ScoredSite
from core.site.sets import case_key
from core.trust.profile import active_threshold


@dataclass
class Comparison:
    n: int
    n_pos: int
    n_neg: int
    excluded: int  # site cases left out because the child trained or validated on them
    parent_name: str
    child_name: str
    parent: dict[str, Any]
    child: dict[str, Any]
    test: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "n_pos": self.n_pos, "n_neg": self.n_neg, "excluded": self.excluded,
                "parent_name": self.parent_name, "child_name": self.child_name, "parent": self.parent,
                "child": self.child, "paired_delong": self.test, "notes": list(self.notes)}


def is_child(bundle: Any) -> bool:
    card = getattr(bundle, "card", None) or {}
    return isinstance(card.get("parent"), dict) and isinstance(card.get("site"), dict)


def find_parent(child: Any, explicit: str | None = None) -> Any:
    """The parent bundle named by ``child``'s card, checked by sha256."""
    want = str(child.card["parent"].get("sha256") or "")
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit) if explicit != "default" else (default_bundle_path() or Path(explicit)))
    else:
        stored = child.card["parent"].get("path")
        if stored:
            candidates.append(Path(stored))
        default = default_bundle_path()
        if default is not None:
            candidates.append(default)
        candidates += sorted(p for p in user_models_dir().iterdir() if p.is_dir())
    for path in candidates:
        try:
            bundle = load_bundle(path)
        except BundleError:
            continue
        if bundle.sha256 == want:
            return bundle
        if explicit:
            raise BundleError(f"{path} is not the model this one was fine-tuned from (its sha256 differs)")
    name = child.card["parent"].get("name") or "the parent model"
    raise BundleError(f"cannot find {name} (sha256 {want[:12]}...) that this model was fine-tuned from; "
                      "pass its folder with --parent")


def fair_mask(child: Any, names: list[str]) -> np.ndarray:
    """True for the cases the child neither trained nor validated on."""
    used = set((child.card.get("site") or {}).get("used_case_keys") or [])
    return np.array([case_key(n) not in used for n in names], dtype=bool)


def _side(y: np.ndarray, s: np.ndarray, threshold: float, source: str) -> dict[str, Any]:
    both = 0 < int(y.sum()) < len(y)
    auc = list(roc_auc(y, s)) if both else None
    return {"auc": auc, "threshold": float(threshold), "threshold_source": source,
            "at_threshold": OperatingCurve(y, s).at(threshold).metrics_dict()}


def compare_parent_child(parent: Any, child: Any, parent_scores: ScoredSite, child_scores: ScoredSite) -> Comparison:
    """Compare on the cases both could score and the child never saw."""
    p_index = {c.path: i for i, c in enumerate(parent_scores.site.cases)}
    rows = [(i, p_index[c.path]) for i, c in enumerate(child_scores.site.cases) if c.path in p_index]
    ci = np.array([r[0] for r in rows], dtype=np.int64)
    pi = np.array([r[1] for r in rows], dtype=np.int64)
    names = [child_scores.site.cases[i].name for i in ci]
    fair = fair_mask(child, names)
    y = child_scores.site.labels[ci][fair]
    s_child = child_scores.scores[ci][fair]
    s_parent = parent_scores.scores[pi][fair]
    notes: list[str] = []
    if len(y) == 0:
        raise BundleError("every readable case of this site set was used to fine-tune the model; "
                          "there is nothing fair left to compare on (use new cases)")
    t_parent, src_parent = active_threshold(parent)
    t_child, src_child = active_threshold(child)
    test = None
    if 0 < int(y.sum()) < len(y):
        test = paired_auc_test(y, s_parent, s_child)
        if min(int(y.sum()), len(y) - int(y.sum())) < 20:
            notes.append("Few held-out cases: the AUC difference has a wide interval; read it, not the point value.")
    else:
        notes.append("The fair cases hold only one class, so the AUCs cannot be compared.")
    held = set((child.card.get("site") or {}).get("holdout_case_keys") or [])
    if held and not any(case_key(n) in held for n in np.array(names, dtype=object)[fair]):
        notes.append("None of the child's held-out cases are in this set: it compares on other (new) cases.")
    return Comparison(
        n=len(y), n_pos=int(y.sum()), n_neg=int(len(y) - y.sum()), excluded=int((~fair).sum()),
        parent_name=str(parent.name), child_name=str(child.name),
        parent=_side(y, s_parent, t_parent, src_parent), child=_side(y, s_child, t_child, src_child),
        test=test, notes=notes,
    )


def _fmt(triple: Any, pct: bool = True) -> str:
    if not triple or triple[0] is None:
        return "n/a"
    v, lo, hi = triple
    return f"{v:.1%} [{lo:.1%}-{hi:.1%}]" if pct else f"{v:.3f} [{lo:.3f}-{hi:.3f}]"


def format_comparison(c: Comparison) -> str:
    lines = [f"Parent {c.parent_name} against fine-tuned {c.child_name} on {c.n} site cases the fine-tuning never "
             f"used ({c.n_pos} PNEUMONIA, {c.n_neg} NORMAL; {c.excluded} used cases left out):"]
    for label, side in (("parent", c.parent), ("child", c.child)):
        at = side["at_threshold"]
        lines.append(f"  {label:<6} AUC {_fmt(side['auc'], pct=False)}  at {side['threshold']:.3f}: "
                     f"sens {_fmt(at.get('sensitivity'))}  spec {_fmt(at.get('specificity'))}  "
                     f"acc {_fmt(at.get('accuracy'))}")
    if c.test:
        t = c.test
        lines.append(f"  AUC difference (child - parent) {t['difference']:+.3f} "
                     f"[{t['ci'][0]:+.3f} to {t['ci'][1]:+.3f}], paired DeLong p = {t['p']:.3g}")
    lines += [f"  Note: {n}" for n in c.notes]
    return "\n".join(lines)
