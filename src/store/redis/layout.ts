import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import type { RedisKeys } from '../keys.js';
import { isCluster, type RedisClient } from './client.js';

/**
 * The key layout this code reads. Layout 1 (before Redis Cluster support) kept
 * rooms in one hash and conversation keys without hash tags; layout 2 gives
 * every conversation its own hash tag (see keys.ts).
 */
const LAYOUT = '2';
const MIGRATION_LOCK_MS = 60_000;

/**
 * Brings a Redis written by an older version to the current layout, once, on
 * start: renames conversation keys into their hash-tagged names, splits the
 * rooms hash into one record per room plus the index, and drops the ephemeral
 * keys of the old presence, room-interest and streams-adapter machinery. Layout 1
 * only ever existed on a single Redis (RENAME needs both names on one node).
 * Several processes starting at once take turns through a lock; stop every old
 * process before starting new ones (the two versions share no presence or adapter).
 */
export async function migrateKeyLayout(client: RedisClient, keys: RedisKeys, log: Logger): Promise<void> {
  if ((await client.get(keys.layout)) === LAYOUT) return;
  if (isCluster(client)) {
    await client.set(keys.layout, LAYOUT);
    return;
  }
  const lock = `${keys.layout}:lock`;
  while (!(await client.set(lock, String(process.pid), { NX: true, PX: MIGRATION_LOCK_MS }))) {
    await sleep(100);
    if ((await client.get(keys.layout)) === LAYOUT) return;
  }
  try {
    if ((await client.get(keys.layout)) === LAYOUT) return;
    const moved = await migrateFromLayout1(client, keys);
    await client.set(keys.layout, LAYOUT);
    if (moved) log.info({ keys: moved }, 'redis keys moved to the hash-tagged layout (Redis Cluster ready)');
  } finally {
    await client.del(lock);
  }
}

type SingleClient = Exclude<RedisClient, { masters: unknown }>;

async function migrateFromLayout1(client: SingleClient, keys: RedisKeys): Promise<number> {
  const p = keys.prefix;
  let moved = 0;
  const rename = async (from: string, to: string) => {
    if ((await client.exists(from)) && (await client.renameNX(from, to))) moved++;
  };

  // Rooms: the old hash id → JSON becomes one record per room and the index set (same name as the hash).
  const oldRooms = `${p}rooms:layout1`;
  if ((await client.type(keys.roomIndex)) === 'hash') await client.rename(keys.roomIndex, oldRooms);
  if (await client.exists(oldRooms)) {
    for (const [id, json] of Object.entries(await client.hGetAll(oldRooms))) {
      await client.set(keys.room(id), json, { NX: true });
      await client.sAdd(keys.roomIndex, id);
      await rename(`${p}room:${id}:members`, keys.roomMembers(id));
      moved++;
    }
    await client.del(oldRooms);
  }

  // Conversation streams and their reactions.
  const scan = async (match: string, each: (key: string) => Promise<void>) => {
    for await (const batch of client.scanIterator({ MATCH: match, COUNT: 500 })) for (const key of batch) await each(key);
  };
  await scan(`${p}room:*:stream`, (key) => rename(key, keys.stream(key.slice(p.length, -':stream'.length))));
  await scan(`${p}dm:*:stream`, (key) => rename(key, keys.stream(key.slice(p.length, -':stream'.length))));
  await scan(`${p}react:*`, (key) => rename(key, keys.reactions(key.slice(`${p}react:`.length))));

  // Ephemeral state of the old version: rebuilt by the running processes.
  const stale = [`${p}presence`, `${p}presence:*`, `${p}interest:*`, `${p}socket.io`, `${p}socket.io:*`];
  for (const match of stale) await scan(match, async (key) => void (await client.del(key)));
  return moved;
}
