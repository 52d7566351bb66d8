"""Where a patient looks up what became of a wish, by its tracking code."""
