"""The process: serving with hypercorn's trio worker, the WORKERS supervisor, and log setup.

I/O. The top of the import graph: only `app.__main__` and `app.cli.serve` import it.
"""
