"""What every part may import: the settings, local time, SMS segment counting."""
