"""The reference ambient assistant: wake word -> ASR -> (rewrite) -> NLU -> entity resolution ->
executor -> response, each a component on one protocol that writes its stage record into the turn."""
