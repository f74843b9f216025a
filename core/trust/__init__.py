"""Trust: audit log, out-of-distribution gate, explanations, bundle integrity, operating profiles."""
