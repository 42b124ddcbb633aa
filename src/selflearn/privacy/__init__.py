"""Privacy operations across every store: forgetting a person everywhere (`forget`)."""
