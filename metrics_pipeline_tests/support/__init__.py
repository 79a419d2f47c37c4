"""Test support: stubs and emulator helpers for the real-server tests (never imported at run time)."""
