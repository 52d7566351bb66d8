"""Browser tests: the real server (`wishes serve --demo`) driven by Debian's chromium."""
