"""Site validation and adaptation: a site's own labelled cases, threshold, drift and fine-tuning."""
