"""Text utilities shared by the runtime and the learners (normalisation, spoken numbers)."""
