"""The simulated smart home: rooms, devices with state and capabilities, media catalog, weather,
clock; actions change state, queries read it."""
