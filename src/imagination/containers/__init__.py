"""Running packaged models in containers: runtimes, image archives, and I/O layouts."""
