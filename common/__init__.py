"""What every part may import: the settings, local time, SMS segment counting, and the views
(plain data) storage builds and the flows and the SMS texts use."""
