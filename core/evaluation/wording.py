"""Plain-language lines a report shows about its model and threshold: the model card in a few
rows, and one sentence on who or what set the threshold."""

from __future__ import annotations

from typing import Any


def _fmt_counts(counts: Any) -> str:
    if not isinstance(counts, dict):
        return "-"
    parts = []
    for split, per_class in counts.items():
        if isinstance(per_class, dict):
            inner = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in per_class.items())
            parts.append(f"{split}: {inner}")
    return "; ".join(parts) or "-"


def card_summary(card: dict[str, Any]) -> list[tuple[str, str]]:
    """Model card in a few (label, text) rows for a report; missing fields are skipped."""
    model = card.get("model") or {}
    data = card.get("data") or {}
    training = card.get("training") or {}
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            rows.append((label, str(value)))

    add("Model", card.get("name"))
    add("Created", card.get("created"))
    if model:
        shape = "x".join(str(v) for v in model.get("input_shape", []))
        params = model.get("params")
        add(
            "Architecture",
            f"{model.get('name', '?')}, input {shape or '?'}"
            + (f", {params:,} parameters" if isinstance(params, int) else ""),
        )
    if data:
        add("Training data", f"{data.get('root_name', '?')} (validation: {data.get('val_source', '?')})")
        add("Images", _fmt_counts(data.get("counts")))
        if data.get("manifest_hash"):
            add("Data hash", str(data["manifest_hash"])[:16])
    if training:
        epochs = training.get("epochs_run")
        best = training.get("best_epoch")
        secs = training.get("seconds")
        add(
            "Training",
            ", ".join(
                x
                for x in (
                    f"{epochs} epochs" if epochs is not None else "",
                    f"best epoch {best}" if best is not None else "",
                    f"{secs:,.0f} s" if isinstance(secs, int | float) else "",
                    f"loss {training.get('loss')}" if training.get("loss") else "",
                    "class weights" if training.get("class_weight") else "",
                    "augmentation" if training.get("augmentation") else "",
                )
                if x
            ),
        )
    cal = card.get("calibration")
    add("Calibration", cal.get("method") if isinstance(cal, dict) else "none (raw model output)")
    if card.get("model_sha256"):
        add("Model sha256", str(card["model_sha256"])[:16])
    add("Intended use", card.get("intended_use"))
    population = card.get("intended_population")
    if isinstance(population, dict):
        add("Intended population", population.get("description"))
    lim = card.get("limitations")
    add("Limitations", " ".join(lim) if isinstance(lim, list) else lim)
    return rows


_PLACES = {"val": "the validation split", "validation": "the validation split", "test": "the TEST split",
           "site": "the site's own cases"}


def _date(stamp: Any) -> str:
    text = str(stamp or "")
    return text[:10] if len(text) >= 10 else text


def threshold_origin(
    method: str, chosen_on: str, stored: dict[str, Any] | None = None, set_by: str | None = None
) -> str:
    """One sentence saying who or what set the threshold.

    ``stored`` is the card's threshold entry when the threshold came from the model card (it may
    name the person who adopted it); ``set_by`` names where a hand-set number came from, e.g.
    "the --threshold option". A chooser's name is never reported as a place ("chosen on: manual").
    """
    place = _PLACES.get(chosen_on, chosen_on)
    if stored is not None:
        who, when = stored.get("adopted_by"), _date(stored.get("adopted_at"))
        adopted = f" and adopted by {who}" + (f" on {when}" if when else "") if who else ""
        if method in ("manual", "stored"):
            if who:
                return f"Set by hand by {who}" + (f" on {when}" if when else "") + \
                    " in the Threshold screen and adopted into the model card (no chooser was used)."
            return "Stored in the model card without a record of who set it or how."
        if method == "default":
            return "No threshold is stored with the model, so 0.5 is used."
        if who:
            return f"Chosen by the {method} chooser on {place}{adopted}."
        return f"Chosen by the {method} chooser on {place} when the model was trained (stored in the model card)."
    if method == "manual":
        return f"Set by hand with {set_by or 'a number given by the user'}, for this report (no chooser was used)."
    return f"Chosen for this report by the {method} chooser on {place}."


def report_threshold(
    model_threshold: float, in_force: float, source: str, threshold: float | None = None,
    set_by: str | None = None,
) -> dict[str, Any]:
    """What a report says about where ``threshold`` comes from, as :func:`build_report` arguments.

    The one rule for the Evaluate screen and ``pneumoscope-cli evaluate``: the model's own threshold
    is named by its card (``threshold=None``); the one in force from a profile (adopted or site) is
    named by the profile (``source``); any other number was set by hand (``set_by``). ``threshold``
    None means the one in force.
    """
    value = float(in_force if threshold is None else threshold)
    if abs(float(model_threshold) - value) < 1e-12:
        return {"threshold": None}
    if abs(float(in_force) - value) < 1e-12:
        return {"threshold": value, "chosen_on": "profile",
                "origin": f"The threshold in force for this model: {source}."}
    return {"threshold": value, "set_by": set_by}
