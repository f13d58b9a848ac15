"""Example agent workers: real ones (shell commands, URL checks) and the simulated demo fleet."""
