import { Router } from 'express';
import type { ChatStore, RoomEviction } from '../chat/ports.js';
import { history } from '../chat/messages.js';
import { addMember, createRoom, listRoomsFor, removeMember } from '../chat/rooms.js';
import { addMemberBodySchema, createRoomBodySchema, historyQuerySchema, memberParamsSchema, roomParamsSchema } from '../chat/schemas.js';
import type { PublicUserFinder } from '../chat/users.js';
import { currentUser, requireUser } from '../http/guards.js';
import { parseInput } from '../http/validate.js';
import { LimitExceeded, type RateLimits } from '../security/limits.js';
import type { Logger } from '../logger.js';
import { audit, requestSubject } from '../ops/audit.js';

export interface ChatApiDeps {
  chat: ChatStore;
  findUser: PublicUserFinder;
  /** A removed member's sockets leave the room at once (realtime/rooms.ts). */
  eviction: RoomEviction;
  limits: RateLimits;
  /** For the audit line of a refused room creation. */
  log: Logger;
}

/** The rooms API (PROTOCOL.md). Every route needs a logged-in session. */
export function chatApi({ chat, findUser, eviction, limits, log }: ChatApiDeps): Router {
  const r = Router();

  r.get('/rooms', requireUser, async (req, res) => {
    res.json({ rooms: await listRoomsFor(chat, currentUser(req)) });
  });

  r.post('/rooms', requireUser, async (req, res) => {
    const body = parseInput(createRoomBodySchema, req.body);
    const me = currentUser(req);
    await limits.consume('room_create', me.id).catch((err: unknown) => {
      if (err instanceof LimitExceeded) audit(log, 'rate_limited', { ...requestSubject(req), limit: err.limit });
      throw err;
    });
    try {
      res.status(201).json({ room: await createRoom(chat, me, body) });
    } catch (err) {
      await limits.reward('room_create', me.id).catch(() => undefined); // nothing was created
      throw err;
    }
  });

  r.post('/rooms/:id/members', requireUser, async (req, res) => {
    const { id } = parseInput(roomParamsSchema, req.params);
    const { username } = parseInput(addMemberBodySchema, req.body);
    await addMember(chat, currentUser(req), id, username, findUser.byUsername);
    res.status(204).end();
  });

  // By the 204, every socket of the removed user has left the room (and is told `room:removed`).
  r.delete('/rooms/:id/members/:username', requireUser, async (req, res) => {
    const { id, username } = parseInput(memberParamsSchema, req.params);
    await removeMember(chat, currentUser(req), id, username, findUser.byUsername, eviction);
    res.status(204).end();
  });

  r.get('/rooms/:id/messages', requireUser, async (req, res) => {
    const { id } = parseInput(roomParamsSchema, req.params);
    const page = parseInput(historyQuerySchema, req.query);
    res.json(await history(chat, currentUser(req), id, page));
  });

  return r;
}
