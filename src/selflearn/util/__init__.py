"""Small, dependency-free helpers shared by every subpackage (atomic file writes)."""
