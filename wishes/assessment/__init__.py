"""Branch assessment: the 500-point five-area review (五化), its tiers, and its scoring."""
