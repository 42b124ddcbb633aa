"""The user simulator: households of users with noise profiles, habits, preferences and personal
names for things, issuing goals that recur across users and days, reacting to what the assistant
did as people do. It alone writes the truth table; nothing the learner reads comes from here
except the interaction log a real assistant would also have written."""
