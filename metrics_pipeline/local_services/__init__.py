"""Real servers on 127.0.0.1 for the demo, the tests and CI; each started and stopped by PID."""
