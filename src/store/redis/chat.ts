import { parseConversation, roomConversation } from '../../chat/conversations.js';
import { compareMessageIds, isMessageId, messageIdToIso } from '../../chat/message-ids.js';
import { GENERAL_ROOM_ID, generalRoom, MAX_REACTION_EMOJIS } from '../../chat/policy.js';
import { normalizeReactions } from '../../chat/reaction-map.js';
import type { Message, Reactions, Room } from '../../chat/types.js';
import type { RedisKeys } from '../keys.js';
import type { ChatStore, ConversationId } from '../../chat/ports.js';
import { BatchItemError, createBatcher } from './batches.js';
import { isCluster, type RedisClient } from './client.js';
import { luaScript, NOW_MS, runLua, type LuaScript } from './lua.js';

export interface RedisChatStoreOptions {
  historyLimit: number;
  maxReactionEmojis?: number;
  /** This process, as room-servers.ts registers it: a post learns whether any other process serves the room. */
  processId?: string;
  /**
   * Whether every live process registers the rooms it serves (presence.ts's heartbeat):
   * only then can a post know it reaches nobody elsewhere. Default: never (always published).
   */
  everyoneRegisters?: () => boolean;
}

/*
 * Layout (every key from keys.ts; a conversation's keys share its hash tag):
 *   rooms                         set of every room id (listing)
 *   {room:<id>}:room              JSON Room (SET NX makes creation atomic)
 *   {room:<id>}:members           set of usernames
 *   {room:<id>}:servers           hash processId → lease deadline: the processes serving the room (room-servers.ts)
 *   {<conversation>}:stream       stream of a room's or DM pair's messages; the entry id is the message id
 *   {<conversation>}:react        hash messageId → JSON {emoji: [usernames]}
 */

/** Creates the room only if its id is free; the owner becomes a member in the same step. KEYS: room, members. */
const CREATE_ROOM = luaScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
if ARGV[2] ~= '' then redis.call('SADD', KEYS[2], ARGV[2]) end
return 1
`);

/**
 * The names of a message's stream fields, in the order they are stored: the first five
 * always, then `c` (clientMsgId) and `to` (a DM's recipient) when there are.
 */
const ENTRY_NAMES = ['r', 'uid', 'un', 'dn', 't', 'c', 'to'] as const;

/**
 * Lua: XADD of a message to the stream `stream`, trimmed exactly to the history limit
 * `limit` by the XADD itself (MAXLEN =), dropping the reactions (`reactions`) of the
 * messages it trims in the same step so that they do not outlive them. `value(i)` is
 * where the value of ENTRY_NAMES[i] is (in ARGV; '' for an absent optional one): the names
 * are the script's own constants, so that only the values cross the wire and become
 * script arguments (with a name and a value for each field a post took 3% more
 * instructions in Redis, 71.1k, and 6% more in the process, 72.3k: `npm run bench:store`).
 * Every place is a Lua expression. Leaves the new id in `id`.
 *
 * The trimmed ids are read first only when the conversation has reactions at all:
 * most have none, and then a full conversation's post is one XADD. (Reading the
 * oldest id and deleting it, as this did, walked the entries already deleted at
 * the head of the stream twice a post: ~25% more Redis CPU a post once full.) The
 * values go to XADD straight from ARGV: copying them into a table of their own first
 * cost another ~20% of the script.
 */
interface AppendPlaces {
  stream: string;
  reactions: string;
  limit: string;
  value: (i: number) => string;
}
const appendLua = ({ stream, reactions, limit, value }: AppendPlaces) => {
  /** The XADD of the first five fields and the optional ones given (5: c, 6: to). */
  const xadd = (...optional: number[]) =>
    `redis.call('XADD', ${stream}, 'MAXLEN', ${limit}, '*', ${[0, 1, 2, 3, 4, ...optional].map((i) => `'${ENTRY_NAMES[i]}', ${value(i)}`).join(', ')})`;
  const given = (i: number) => `${value(i)} ~= ''`;
  return `
if redis.call('HLEN', ${reactions}) > 0 then
  local excess = redis.call('XLEN', ${stream}) + 1 - tonumber(${limit})
  if excess > 0 then
    for _, entry in ipairs(redis.call('XRANGE', ${stream}, '-', '+', 'COUNT', excess)) do
      redis.call('HDEL', ${reactions}, entry[1])
    end
  end
end
local id
local c = ${given(5)}
if ${given(6)} then
  if c then id = ${xadd(5, 6)}
  else id = ${xadd(6)} end
elseif c then id = ${xadd(5)}
else id = ${xadd()} end
`;
};

/** The keys of a room post in POST_TO_ROOMS and of an append in APPEND_MANY, and their values (ENTRY_NAMES' seven, '' for an absent one). */
const POST_KEYS = 5;
const APPEND_KEYS = 2;
const ENTRY_VALUES = ENTRY_NAMES.length;

/**
 * Lua: the loop of a script that takes many items (those of one turn of the event loop,
 * see batches.ts), `keys` keys each in KEYS and ENTRY_VALUES values each in ARGV from
 * `firstValue` on: `fn(k, a)` for each, with the offsets of its first key and value, in
 * a pcall, so that one failing (a key of the wrong type, say) is that item's answer
 * alone, and the items before it stand. Returns two elements an item: what `fn`
 * returned, or 'error' and the error's message.
 */
const eachItemLua = (fn: string, keys: number, firstValue: number) => `
local out = {}
for p = 0, #KEYS / ${keys} - 1 do
  local ok, first, second = pcall(${fn}, p * ${keys}, ${firstValue} + p * ${ENTRY_VALUES})
  if not ok then
    second = type(first) == 'table' and first.err or tostring(first)
    first = 'error'
  end
  out[2 * p + 1] = first
  out[2 * p + 2] = second
end
return out
`;

/**
 * Appends messages (see appendLua), many in one call (eachItemLua): a call costs Redis
 * more than an append's own commands do.
 * KEYS: two an append (stream, reactions). ARGV: limit, then seven values an append (entryValues).
 * Returns two elements an append: id, 0 | 'error', message.
 */
const APPEND_MANY = luaScript(`
local function append(k, a)
${appendLua({ stream: 'KEYS[k + 1]', reactions: 'KEYS[k + 2]', limit: 'ARGV[1]', value: (i) => `ARGV[a + ${i}]` })}
  return id, 0
end
${eachItemLua('append', APPEND_KEYS, 2)}`);

/**
 * Posts to rooms, each as an append once the room exists (else `missing`) and the poster
 * (the message's `un`) may post there (else `forbidden`): public, or a private room they
 * own or belong to (canAccess's rule, chat/rooms.ts). A room's keys share its hash tag,
 * so that a post is one step on one node of a cluster too (where a call takes the posts
 * of one room only: the store's `post` batcher). In the same step it answers whether a
 * process other than the poster's serves the room (a lease in the room's servers hash
 * still running, see room-servers.ts): 1 or 0. Many posts in one call (eachItemLua): in
 * the small rooms of `npm run bench`, 8 posts a call cost Redis 27% fewer instructions
 * each than a call each (`npm run bench:store`: 70.3k → 51.3k).
 * KEYS: five a post (room, members, stream, reactions, servers).
 * ARGV: processId, limit, then seven values a post (entryValues).
 * Returns two elements a post: id, elsewhere (1 or 0) | 'missing' | 'forbidden', 0 | 'error', message.
 */
const POST_TO_ROOMS = luaScript(`
local function post(k, a)
  local raw = redis.call('GET', KEYS[k + 1])
  if not raw then return 'missing', 0 end
  -- The record is JSON.stringify's (createRoom): only a private room is decoded, to read its owner.
  if string.find(raw, '"private":true', 1, true) then
    local room = cjson.decode(raw)
    local poster = ARGV[a + ${ENTRY_NAMES.indexOf('un')}]
    if room.owner ~= poster and redis.call('SISMEMBER', KEYS[k + 2], poster) == 0 then return 'forbidden', 0 end
  end
${appendLua({ stream: 'KEYS[k + 3]', reactions: 'KEYS[k + 4]', limit: 'ARGV[2]', value: (i) => `ARGV[a + ${i}]` })}
  local servers = redis.call('HGETALL', KEYS[k + 5])
  -- Nobody, or only the poster's process: no clock needed.
  if #servers == 0 or (#servers == 2 and servers[1] == ARGV[1]) then return id, 0 end
${NOW_MS}
  for i = 1, #servers, 2 do
    if servers[i] ~= ARGV[1] and tonumber(servers[i + 1]) > now then return id, 1 end
  end
  return id, 0
end
${eachItemLua('post', POST_KEYS, 3)}`);

/**
 * Toggles one username under one emoji of one message, all or nothing, and
 * answers the whole map. Refuses a message that is not (or no longer) in the
 * stream, and a new emoji beyond the cap.
 * KEYS: stream, reactions. ARGV: messageId, emoji, username, maxEmojis.
 * Returns {'missing'} | {'full'} | {'ok', json}.
 */
const TOGGLE_REACTION = luaScript(`
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'missing'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
local map = {}
if raw then map = cjson.decode(raw) end
local users = map[ARGV[2]]
if users == nil then
  local count = 0
  for _ in pairs(map) do count = count + 1 end
  if count >= tonumber(ARGV[4]) then return {'full'} end
  map[ARGV[2]] = {ARGV[3]}
else
  local at = nil
  for i, u in ipairs(users) do if u == ARGV[3] then at = i end end
  if at then table.remove(users, at) else users[#users + 1] = ARGV[3] end
  if #users == 0 then map[ARGV[2]] = nil end
end
if next(map) == nil then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return {'ok', '{}'}
end
local json = cjson.encode(map)
redis.call('HSET', KEYS[2], ARGV[1], json)
return {'ok', json}
`);

/** The most posts (or appends) in one POST_TO_ROOMS (APPEND_MANY) call: some 0.5 ms of Redis's time. */
export const MAX_POSTS_PER_CALL = 64;

interface RoomPost {
  roomId: string;
  fields: Fields;
}
interface Append {
  conversation: ConversationId;
  fields: Fields;
}
/** An item's answer: its message's id (or why a post was refused), and whether another process serves the room. */
interface ItemOutcome {
  id: string;
  elsewhere: boolean;
}

/** The outcomes of `count` items in an eachItemLua reply. */
function itemOutcomes(reply: unknown, count: number): Array<ItemOutcome | BatchItemError> {
  const flat = reply as Array<string | number>;
  const outcomes: Array<ItemOutcome | BatchItemError> = [];
  for (let i = 0; i < count; i++) {
    const first = String(flat[2 * i]);
    const second = flat[2 * i + 1];
    outcomes.push(first === 'error' ? new BatchItemError(String(second)) : { id: first, elsewhere: second === 1 });
  }
  return outcomes;
}

/** Stream field names; short because every message carries them. */
type Fields = Record<string, string>;

function toFields(message: Omit<Message, 'id' | 'ts'>): Fields {
  const fields: Fields = {
    r: message.roomId,
    uid: message.user.id,
    un: message.user.username,
    dn: message.user.displayName, // the display name at send time, kept with the message
    t: message.text,
  };
  if (message.clientMsgId !== undefined) fields.c = message.clientMsgId;
  if (message.to !== undefined) fields.to = message.to;
  return fields;
}

/** The values of ENTRY_NAMES, in its order, as the scripts take them: '' for an absent `c` or `to`. */
function entryValues(f: Fields): string[] {
  return [f.r!, f.uid!, f.un!, f.dn!, f.t!, f.c ?? '', f.to ?? ''];
}

function fromEntry(id: string, f: Fields): Message {
  const message: Message = {
    id,
    roomId: f.r ?? '',
    user: { id: f.uid ?? '', username: f.un ?? '', displayName: f.dn ?? f.un ?? '' },
    text: f.t ?? '',
    ts: messageIdToIso(id),
  };
  if (f.c !== undefined) message.clientMsgId = f.c;
  if (f.to !== undefined) message.to = f.to;
  return message;
}

function parseReactions(json: string): Reactions {
  // cjson turns an empty Lua table into {}, and a one-user list into a JSON array: both parse as expected.
  return normalizeReactions(JSON.parse(json) as Record<string, string[]>);
}

export function createRedisChatStore(client: RedisClient, keys: RedisKeys, opts: RedisChatStoreOptions): ChatStore {
  const maxEmojis = opts.maxReactionEmojis ?? MAX_REACTION_EMOJIS;

  /** The stream of a conversation; parsing the id also refuses anything that is not one. */
  function streamKey(conversation: ConversationId): string {
    parseConversation(conversation);
    return keys.stream(conversation);
  }

  /**
   * Lists the id, then creates the room (record and owner in one step). In this
   * order a crash between the two leaves an id listed without a room, which
   * listing skips and creating again fixes, never a room nobody can list.
   */
  async function create(room: Room): Promise<boolean> {
    await client.sAdd(keys.roomIndex, room.id);
    const created = await runLua(client, CREATE_ROOM, [keys.room(room.id), keys.roomMembers(room.id)], [JSON.stringify(room), room.owner ?? '']);
    return created === 1;
  }

  // `general` is written once per store instance, lazily because the factory is
  // synchronous. SET NX makes it idempotent when many processes race to do it.
  // Once it is there, callers skip the wait (`if (!generalReady) await ...`): a post's hot path awaits the store only.
  let generalEnsured: Promise<unknown> | undefined;
  let generalReady = false;
  function ensureGeneral(): Promise<unknown> {
    generalEnsured ??= create(generalRoom()).then(
      () => (generalReady = true),
      (err: unknown) => {
        generalEnsured = undefined; // try again next time rather than remember a failure
        throw err;
      },
    );
    return generalEnsured;
  }

  // The posts and the appends of one turn of the event loop, each in one script call
  // (batches.ts); on a cluster, one call a conversation (its keys share a slot; different
  // conversations' need not).
  const cluster = isCluster(client);
  /** One call of `script` for `items`: ARGV `head`, then each item's values; KEYS each item's `keysOf`. */
  async function callMany<T extends { fields: Fields }>(script: LuaScript, head: string[], items: T[], keysOf: (item: T) => string[]) {
    const keyList: string[] = [];
    const args = [...head];
    for (const item of items) {
      for (const key of keysOf(item)) keyList.push(key);
      for (const value of entryValues(item.fields)) args.push(value);
    }
    return itemOutcomes(await runLua(client, script, keyList, args), items.length);
  }
  const post = createBatcher<RoomPost, ItemOutcome>({
    group: cluster ? (p) => p.roomId : () => '',
    max: MAX_POSTS_PER_CALL,
    run: (posts) =>
      callMany(POST_TO_ROOMS, [opts.processId ?? '', String(opts.historyLimit)], posts, ({ roomId }) => {
        // The conversation is made from a room id here: nothing to parse (streamKey's check is for ids from outside).
        const conversation = roomConversation(roomId);
        return [keys.room(roomId), keys.roomMembers(roomId), keys.stream(conversation), keys.reactions(conversation), keys.roomServers(roomId)];
      }),
  });
  const appendOne = createBatcher<Append, ItemOutcome>({
    group: cluster ? (a) => a.conversation : () => '',
    max: MAX_POSTS_PER_CALL,
    run: (appends) => callMany(APPEND_MANY, [String(opts.historyLimit)], appends, ({ conversation }) => [keys.stream(conversation), keys.reactions(conversation)]),
  });

  const parseRoom = (json: string | null) => (json ? (JSON.parse(json) as Room) : null);

  async function range(conversation: ConversationId, { before, after, limit }: { before?: string; after?: string; limit: number }) {
    const key = streamKey(conversation);
    // Nothing sorts before 0-0, and Redis refuses the interval `(0-0` with an error rather than answer none.
    if (before && compareMessageIds(before, '0-0') <= 0) return [];
    if (after) {
      const end = before ? `(${before}` : '+';
      return client.xRange(key, `(${after}`, end, { COUNT: limit });
    }
    // Newest first from the upper bound, then flipped: the page nearest `before` (or the end).
    const start = before ? `(${before}` : '+';
    return (await client.xRevRange(key, start, '-', { COUNT: limit })).reverse();
  }

  return {
    async createRoom(room: Room) {
      if (!generalReady) await ensureGeneral();
      return create(room);
    },
    async getRoom(roomId) {
      if (!generalReady) await ensureGeneral();
      return parseRoom(await client.get(keys.room(roomId)));
    },
    async listRooms() {
      if (!generalReady) await ensureGeneral();
      const ids = await client.sMembers(keys.roomIndex);
      // One GET per room (they live in different slots on a cluster); node-redis pipelines them.
      const rooms = await Promise.all(ids.map(async (id) => parseRoom(await client.get(keys.room(id)))));
      return rooms.filter((room): room is Room => room !== null);
    },
    async addMember(roomId, username) {
      await client.sAdd(keys.roomMembers(roomId), username);
    },
    async removeMember(roomId, username) {
      await client.sRem(keys.roomMembers(roomId), username);
    },
    async isMember(roomId, username) {
      return (await client.sIsMember(keys.roomMembers(roomId), username)) === 1;
    },

    async postToRoom(roomId, input) {
      if (!generalReady) await ensureGeneral();
      const fields = toFields(input);
      const { id, elsewhere } = await post({ roomId, fields });
      if (id === 'missing' || id === 'forbidden') return id;
      // Until every live process registers the rooms it serves (none of an older release), anyone may be listening.
      return { message: fromEntry(id, fields), servedElsewhere: elsewhere || !(opts.everyoneRegisters?.() ?? false) };
    },
    async append(conversation, input) {
      parseConversation(conversation); // refuses anything that is not one, before it is queued
      const fields = toFields(input);
      const { id } = await appendOne({ conversation, fields });
      return fromEntry(id, fields);
    },
    async page(conversation, opts) {
      const entries = await range(conversation, opts);
      if (entries.length === 0) return [];
      const reactions = await client.hmGet(keys.reactions(conversation), entries.map((e) => e.id));
      return entries.map((e, i) => {
        const message = fromEntry(e.id, e.message as Fields);
        const map = reactions[i] ? parseReactions(reactions[i]) : {};
        if (Object.keys(map).length) message.reactions = map;
        return message;
      });
    },
    async hasMessage(conversation, messageId) {
      if (!isMessageId(messageId)) return false; // Redis would reject a malformed id with an error
      const found = await client.xRange(streamKey(conversation), messageId, messageId, { COUNT: 1 });
      return found.length > 0;
    },
    async toggleReaction(conversation, messageId, emoji, username) {
      if (!isMessageId(messageId)) return 'missing';
      const reply = (await runLua(
        client,
        TOGGLE_REACTION,
        [streamKey(conversation), keys.reactions(conversation)],
        [messageId, emoji, username, String(maxEmojis)],
      )) as [string, string?];
      if (reply[0] === 'missing' || reply[0] === 'full') return reply[0];
      return parseReactions(reply[1] ?? '{}');
    },
  };
}
