"""Is this patient and view inside the population the model was made for?

A model card may state its ``intended_population``: the ages (in years, inclusive of the whole
last year: "1-5" covers a child of 5 years 11 months) and the views it was trained on. The image's
DICOM tags say the patient's age (PatientAge, or birth and study dates) and the view
(ViewPosition). A file without those tags (PNG, JPEG, anonymised DICOM) is not warned about:
unknown is not outside. Lateral views and non-chest body parts are the chest-view check's job
(:func:`core.imaging.chest_warning`), so they are not repeated here.
"""

from __future__ import annotations

from typing import Any

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
