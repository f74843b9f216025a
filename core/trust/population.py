"""Is this patient and view inside the population the model was made for?

A model card may state its ``intended_population``: the ages (in years, inclusive of the whole
last year: "1-5" covers a child of 5 years 11 months) and the views it was trained on. The image's
DICOM tags say the patient's age (PatientAge, or birth and study dates) and the view
(ViewPosition). A file without those tags (PNG, JPEG, anonymised DICOM) is not warned about:
unknown is not outside. Lateral views and non-chest body parts are the chest-view check's job
(:func:`core.imaging.chest_warning`), so they are not repeated here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import PneumoscopeError

# The development data (Kermany et al., Cell 2018): children aged one to five, frontal films,
# one centre. Cards written by training carry it unless the training config says otherwise.
KERMANY_POPULATION: dict[str, Any] = {
    "age_years": [1, 5],
    "views": ["PA", "AP"],
    "body_parts": ["CHEST"],
    "description": "children aged 1 to 5 years; frontal (PA or AP) chest radiographs",
    "source": "the training data: Kermany et al. 2018, paediatric patients aged one to five, "
              "Guangzhou Women and Children's Medical Center",
}
_LATERAL = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"}


def intended_population(card: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card's stated population, or None when the card does not state one."""
    population = (card or {}).get("intended_population")
    return population if isinstance(population, dict) else None


def format_age(meta: dict[str, Any]) -> str | None:
    """The patient's age for a reader ("4 years", "18 months", "10 days"), or None when unknown."""
    years = meta.get("age_years")
    if not isinstance(years, int | float):
        return None
    if years >= 2:
        return f"{int(years)} years"
    if years >= 1 / 12:
        months = int(years * 12 + 1e-9)
        return f"{months} month{'s' if months != 1 else ''}"
    days = round(years * 365.25)
    return f"{days} day{'s' if days != 1 else ''}"


def describe_age(meta: dict[str, Any]) -> str:
    """The age with where it came from ("4 years (PatientAge 004Y)"); "" when the tags do not say."""
    age = format_age(meta)
    written = meta.get("patient_age")
    if age is None:
        return f"unreadable ({written})" if written else ""
    return f"{age} (PatientAge {written})" if written else f"{age} (from birth and study dates)"


def population_warning(meta: dict[str, Any], population: dict[str, Any] | None) -> str | None:
    """Plain-language warning when the tags put this image outside ``population``, else None."""
    if not population:
        return None
    reasons: list[str] = []
    ages = population.get("age_years")
    years = meta.get("age_years")
    if isinstance(years, int | float) and isinstance(ages, list | tuple) and len(ages) == 2:
        low, high = float(ages[0]), float(ages[1])
        if years < low or years >= high + 1:
            reasons.append(f"the patient is {format_age(meta)} old, outside the ages {ages[0]:g} to {ages[1]:g}")
    views = [str(v).upper() for v in population.get("views") or []]
    view = str(meta.get("view_position") or "").strip().upper()
    if views and view and view not in views and view not in _LATERAL:
        reasons.append(f"the view is {view}, not {' or '.join(views)}")
    if not reasons:
        return None
    described = population.get("description") or "the population it was trained on"
    return ("Outside the model's intended population (" + described + "): " + "; ".join(reasons)
            + ". Its score may not apply to this patient.")


# --- who a trained model is for: from the data, never assumed ------------------------------------

DATASET_CARD = "dataset.json"
# Known datasets by name (``--dataset-card kermany``): the shared Kermany folder is read-only and
# has no dataset.json, so its card lives here.
BUILTIN_CARDS: dict[str, dict[str, Any]] = {
    "kermany": {
        "name": "Kermany paediatric chest X-rays (Cell 2018)",
        "intended_use": "paediatric frontal chest X-rays (AP), ages 1-5, from one centre (Guangzhou); "
                        "research use only",
        "intended_population": KERMANY_POPULATION,
        "limitations": [
            "Trained on one centre's paediatric AP radiographs; other ages, views, devices or sites may "
            "score differently.",
        ],
    },
}
NOT_STATED_USE = ("not stated: the training data came without a dataset card (dataset.json) or "
                  "population flags, so this card does not say whom the model is for; research use only")


class PopulationError(PneumoscopeError):
    """A dataset card or population flag that cannot be used, in plain language."""


def _check_population(population: Any, where: str) -> dict[str, Any]:
    if not isinstance(population, dict):
        raise PopulationError(f"{where}: 'intended_population' must be an object with age_years, views, description")
    out = dict(population)
    ages = out.get("age_years")
    if ages is not None:
        ok = (isinstance(ages, list | tuple) and len(ages) == 2
              and all(isinstance(a, int | float) and not isinstance(a, bool) for a in ages))
        if not ok or not 0 <= ages[0] <= ages[1] <= 130:
            raise PopulationError(f"{where}: age_years must be two ages in years, youngest first (e.g. [1, 5]), "
                                  f"not {ages!r}")
        out["age_years"] = [ages[0], ages[1]]
    views = out.get("views")
    if views is not None:
        if not isinstance(views, list) or not all(isinstance(v, str) and v.strip() for v in views):
            raise PopulationError(f"{where}: views must be a list of DICOM ViewPosition values (e.g. [\"PA\", \"AP\"])")
        out["views"] = [v.strip().upper() for v in views]
    if not isinstance(out.get("description", ""), str):
        raise PopulationError(f"{where}: description must be text")
    if not out.get("description"):
        out["description"] = describe_population(out)
    return out


def describe_population(population: dict[str, Any]) -> str:
    parts = []
    ages = population.get("age_years")
    if ages:
        parts.append(f"ages {ages[0]:g} to {ages[1]:g} years")
    if population.get("views"):
        parts.append("views " + " or ".join(population["views"]))
    return "; ".join(parts) or "not stated"


def read_dataset_card(spec: str | Path | None, folder: str | Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """The dataset card to stamp on a trained model, and where it came from.

    ``spec``: a built-in name (``kermany``), a JSON file, or ``None`` to look for ``dataset.json``
    in ``folder`` (the training data). Returns ``(None, "")`` when there is none."""
    import json

    if spec is not None and str(spec).lower() in BUILTIN_CARDS:
        name = str(spec).lower()
        return json.loads(json.dumps(BUILTIN_CARDS[name])), f"built-in dataset card '{name}'"
    if spec is not None:
        path = Path(spec)
        if path.is_dir():
            path = path / DATASET_CARD
        if not path.is_file():
            known = ", ".join(sorted(BUILTIN_CARDS))
            raise PopulationError(f"no dataset card at {spec} (give a JSON file, a folder holding {DATASET_CARD}, "
                                  f"or one of: {known})")
    elif folder is not None and (Path(folder) / DATASET_CARD).is_file():
        path = Path(folder) / DATASET_CARD
    else:
        return None, ""
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PopulationError(f"the dataset card {path} cannot be read as JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise PopulationError(f"the dataset card {path} must hold a JSON object")
    if "intended_population" in card:
        card["intended_population"] = _check_population(card["intended_population"], str(path))
    if not isinstance(card.get("limitations", []), list):
        raise PopulationError(f"{path}: limitations must be a list of sentences")
    return card, f"dataset card {path}"


def population_from_flags(ages: str | None = None, views: str | None = None,
                          description: str | None = None) -> dict[str, Any] | None:
    """``--population-ages 1-5 --population-views PA,AP``: the population they state (None if none given)."""
    if not (ages or views or description):
        return None
    out: dict[str, Any] = {}
    if ages:
        low, sep, high = str(ages).replace(" ", "").partition("-")
        try:
            out["age_years"] = [float(low), float(high if sep else low)]
        except ValueError:
            raise PopulationError(f"population ages must look like 1-5 (years, youngest first), not {ages!r}") from None
        out["age_years"] = [int(a) if a.is_integer() else a for a in out["age_years"]]
    if views:
        out["views"] = [v for v in str(views).replace(" ", "").split(",") if v]
    if description:
        out["description"] = description
    out["source"] = "stated when training (population flags)"
    return _check_population(out, "population flags")


def observed_population(metas: list[dict[str, Any]], what: str = "the site's images") -> dict[str, Any] | None:
    """The ages and views the DICOM tags of a set of images show (a fine-tuned model is for the
    patients it was adapted on); None when no image says its age or view."""
    ages = [float(m["age_years"]) for m in metas if isinstance(m.get("age_years"), int | float)]
    views = sorted({str(m.get("view_position") or "").strip().upper() for m in metas} - {""} - _LATERAL)
    if not ages and not views:
        return None
    out: dict[str, Any] = {}
    if ages:
        out["age_years"] = [int(min(ages)), int(max(ages))]
    if views:
        out["views"] = views
    n_age, n_view = len(ages), sum(1 for m in metas if str(m.get("view_position") or "").strip())
    out["description"] = describe_population(out)
    out["source"] = (f"the DICOM tags of {what}: age on {n_age} of {len(metas)} images, view on {n_view} "
                     f"of {len(metas)}")
    return out


def resolve_intended(card: dict[str, Any] | None, origin: str, flags: dict[str, Any] | None,
                     use: str | None = None) -> dict[str, Any]:
    """The card fields for whom a model is for: ``intended_use``, ``intended_population``,
    ``intended_origin`` and the dataset's ``limitations``. Flags win over the card; with
    neither, the card says it is not stated (and Review warns about nobody)."""
    card = card or {}
    population = card.get("intended_population")
    if flags:
        population = {**(population or {}), **flags}
        origin = f"{origin} and population flags" if origin else "population flags"
    if use:
        origin = origin or "the --intended-use flag"
    intended_use = use or card.get("intended_use")
    if not intended_use:
        intended_use = (f"{population['description']}; research use only" if population else NOT_STATED_USE)
    return {"intended_use": intended_use, "intended_population": population,
            "intended_origin": origin or "not stated",
            "dataset_limitations": [str(x) for x in card.get("limitations", [])]}
