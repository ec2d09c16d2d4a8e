"""The model side: upstream connectors (Azure OpenAI, OpenAI, in-process simulator), their auth.

I/O. Imports the rules and the simulator; never the call, store, admission, web or process.
"""
