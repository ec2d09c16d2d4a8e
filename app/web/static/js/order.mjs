// Conversation order for the live transcript.
//
// Messages are shown in the conversation's item order, not in arrival order: the user's
// transcript is produced asynchronously and often arrives after the reply to it has begun.
// The server announces every item with the id of the item before it (`previous_item_id` on
// conversation.item.added, conversation.item.created in the beta dialect); this keeps that
// order, and tells the view where to insert a message that just got its first text.

export class ConversationOrder {
  constructor() {
    /** @type {string[]} item ids in conversation order */
    this.ids = [];
  }

  /**
   * Record an item announced after `previousId` (null or undefined: at the start when the
   * conversation is empty, else at the end). An item already known keeps its place.
   * @param {string} id @param {string | null | undefined} previousId
   */
  add(id, previousId) {
    if (this.ids.includes(id)) return;
    const at = previousId ? this.ids.indexOf(previousId) : -1;
    if (at >= 0) this.ids.splice(at + 1, 0, id);
    else this.ids.push(id);
  }

  /**
   * The first item after `id` for which `shown(itemId)` is true: the view inserts `id`'s entry
   * before that one's (null: append). Unknown items are added at the end first.
   * @param {string} id @param {(itemId: string) => boolean} shown
   */
  nextShown(id, shown) {
    this.add(id, null);
    const at = this.ids.indexOf(id);
    for (let i = at + 1; i < this.ids.length; i++) {
      if (shown(this.ids[i])) return this.ids[i];
    }
    return null;
  }
}
