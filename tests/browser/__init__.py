"""Tests that drive the notebooks in a real browser (Voilà + Playwright + Debian's Chromium)."""
