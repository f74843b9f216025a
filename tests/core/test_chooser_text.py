"""Issue 20 item 5: ``chooser_text`` lives beside ``parse_chooser`` in core and is its exact inverse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.evaluation.choosers import chooser_text, parse_chooser

_fraction = st.floats(min_value=1e-6, max_value=1.0, exclude_min=True, allow_nan=False)
_cost = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
_prevalence = st.floats(min_value=0.001, max_value=0.999, allow_nan=False)

_choosers = st.one_of(
    st.sampled_from([("youden", {}), ("maxf1", {}), ("cost", {})]),
    st.tuples(st.sampled_from(["sens", "spec"]), st.fixed_dictionaries({"target": _fraction})),
    st.tuples(st.just("sens-smooth"),
              st.fixed_dictionaries({"target": st.floats(min_value=0.01, max_value=0.999)})),
    st.tuples(st.just("cost"), st.fixed_dictionaries({"cost_fn": _cost, "cost_fp": _cost})),
    st.tuples(st.just("cost"), st.fixed_dictionaries({"cost_fn": _cost, "cost_fp": _cost,
                                                      "prevalence": _prevalence})),
)


@given(_choosers)
def test_chooser_text_round_trips_through_parse_chooser(chooser):
    method, kw = chooser
    assert parse_chooser(chooser_text(method, **kw)) == (method, kw)


def test_chooser_text_reads_like_the_command_line():
    assert chooser_text("sens", target=0.95) == "sens:0.95"
    assert chooser_text("cost", cost_fn=5, cost_fp=1, prevalence=0.2) == "cost:5.0:1.0:0.2"
    assert chooser_text("youden") == "youden"
