"""Call recording: each call's audio as the caller heard it, one stereo WAV per call.

The writers (the as-heard mixer, block uploads, crash recovery) and the readers
(`app.recording.readers`: ranges for the admin player) share the naming rule: one recording per
call, ``<document id>.wav``, in the Blob container ``recordings`` or under
``DATA_DIR/recordings``.
"""
