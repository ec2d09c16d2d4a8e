"""The rules of a call, sans-IO: frame policy, rate limits, function calls, session, dialects.

Pure. Imports no I/O library and no app package that is not pure (see test_architecture.py).
"""
