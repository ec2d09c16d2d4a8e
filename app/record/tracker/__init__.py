"""Turn the Realtime events of one call into a conversation record, without doing any I/O.

The relay feeds the tracker every event it forwards (``observe_client``, ``observe_upstream``,
and the hot-path ``observe_audio_delta``) together with the time it saw it; ``record()`` then
answers with an immutable :class:`ConversationRecord` that the document builder turns into the
stored conversation.  Like h11 or hypercorn's protocol layer, the tracker imports no trio, quart
or azure: it is tested by replaying recorded event sequences.
"""

from __future__ import annotations

from app.record.tracker._record import ConversationRecord, Message, Sender
from app.record.tracker._tracker import ConversationTracker

__all__ = ["ConversationRecord", "ConversationTracker", "Message", "Sender"]
