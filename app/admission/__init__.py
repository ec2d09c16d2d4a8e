"""Admission: the realtime endpoint, who may call (tokens, origins), the registry of live calls.

I/O. Imports the call, model, rules, record, store interface, live board; never web or process.
"""
