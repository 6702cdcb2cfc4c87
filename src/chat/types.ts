/** The public shapes of PROTOCOL.md. */
export interface User {
  id: string;
  username: string;
  displayName: string;
}

export interface Room {
  id: string;
  name: string;
  private: boolean;
  owner: string | null; // username of the owner; null for `general`
}

export interface Message {
  id: string;
  roomId: string;
  user: User;
  text: string;
  ts: string; // ISO 8601 UTC
  clientMsgId?: string;
  /** Direct messages only: the recipient's username (`roomId` is then the `dm:<a>:<b>` conversation id). */
  to?: string;
  /** In history pages only, when anyone has reacted: the whole reaction map (live changes come as `reaction` events). */
  reactions?: Reactions;
}

/** emoji → usernames who reacted */
export type Reactions = Record<string, string[]>;
