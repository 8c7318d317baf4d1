"""msgbuffer's benchmark suite (issue 5): `python -m bench`, see __main__.py and README.md.

Nothing here is imported by the application; the benchmarks start msgbuffer (and the
original design, the "peer") as separate processes and measure them from outside."""
