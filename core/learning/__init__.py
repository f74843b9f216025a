"""Learning: data sets, models, losses, training, tuning, distribution, model bundles."""
