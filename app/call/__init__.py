"""One call: the `Call` lifetime and its tasks (client and upstream loops, timers, tools, agent).

I/O. Imports the rules, record, model, live feed and tools; never store, admission, web, process.
"""
