"""Commands loaded lazily by cnncalc.cli (see LAZY_COMMANDS there)."""
