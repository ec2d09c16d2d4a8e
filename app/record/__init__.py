"""The record of a call, sans-IO: the conversation tracker, the document builder, redaction.

Pure. Imports no I/O library and no app package that is not pure (see test_architecture.py).
"""
