"""Commands: goroutines, goroutine, threads, defers, panics."""
