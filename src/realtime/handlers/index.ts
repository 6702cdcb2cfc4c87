import type { HandlerTable } from '../handler.js';
import { dmHistory } from './dm-history.js';
import { dmSend } from './dm-send.js';
import { messageHistory } from './message-history.js';
import { messageSend } from './message-send.js';
import { presenceList } from './presence-list.js';
import { reactionToggle } from './reaction-toggle.js';
import { roomJoin } from './room-join.js';
import { roomLeave } from './room-leave.js';
import { typing } from './typing.js';

/**
 * Every client event of PROTOCOL.md, one file each (schema and handler). A new event:
 * its line in the events map (events.ts), its file here, its line below.
 */
export const handlers = {
  'room:join': roomJoin,
  'room:leave': roomLeave,
  'message:send': messageSend,
  'message:history': messageHistory,
  typing,
  'reaction:toggle': reactionToggle,
  'dm:send': dmSend,
  'dm:history': dmHistory,
  'presence:list': presenceList,
} satisfies HandlerTable;

/** Each event's payload schema, by event. */
export const clientEventSchemas = Object.fromEntries(Object.values(handlers).map((h) => [h.event, h.schema])) as {
  [E in keyof typeof handlers]: (typeof handlers)[E]['schema'];
};
