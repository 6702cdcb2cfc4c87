import { Router } from 'express';
import { history } from '../chat/messages.js';
import { addMember, createRoom, listRoomsFor, removeMember } from '../chat/rooms.js';
import { addMemberBodySchema, createRoomBodySchema, historyQuerySchema, memberParamsSchema, roomParamsSchema } from '../chat/schemas.js';
import type { AppServer } from '../realtime/events.js';
import type { ChatRealtime } from '../realtime/chat.js';
import type { RateLimits } from '../security/limits.js';
import { socketRooms } from '../realtime/rooms.js';
import type { Stores } from '../store/types.js';
import { currentUser, requireUser } from './guards.js';
import { parseInput } from './validate.js';

export interface ChatApiDeps {
  stores: Stores;
  io: AppServer;
  chat: ChatRealtime;
  limits: RateLimits;
}

/** The rooms API (PROTOCOL.md). Every route needs a logged-in session. */
export function chatApi({ stores, io, chat, limits }: ChatApiDeps): Router {
  const r = Router();
  const find = chat.findUserByUsername;

  r.get('/rooms', requireUser, async (req, res) => {
    res.json({ rooms: await listRoomsFor(stores.chat, currentUser(req)) });
  });

  r.post('/rooms', requireUser, async (req, res) => {
    const body = parseInput(createRoomBodySchema, req.body);
    const me = currentUser(req);
    await limits.consume('room_create', me.id);
    try {
      res.status(201).json({ room: await createRoom(stores.chat, me, body) });
    } catch (err) {
      await limits.reward('room_create', me.id).catch(() => undefined); // nothing was created
      throw err;
    }
  });

  r.post('/rooms/:id/members', requireUser, async (req, res) => {
    const { id } = parseInput(roomParamsSchema, req.params);
    const { username } = parseInput(addMemberBodySchema, req.body);
    await addMember(stores.chat, currentUser(req), id, username, find);
    res.status(204).end();
  });

  r.delete('/rooms/:id/members/:username', requireUser, async (req, res) => {
    const { id, username } = parseInput(memberParamsSchema, req.params);
    const removed = await removeMember(stores.chat, currentUser(req), id, username, find);
    // Every socket of that user, on every process, leaves at once; the connection stays up.
    // Awaited (a cluster adapter publishes first), so that by the 204 and by `room:removed`
    // this process's sockets are out: no more room traffic reaches them, nor typing from them.
    const theirs = socketRooms.user(removed.id);
    await io.of('/').adapter.delSockets({ rooms: new Set([theirs]), except: new Set() }, [socketRooms.room(id)]);
    io.to(theirs).emit('room:removed', { roomId: id });
    res.status(204).end();
  });

  r.get('/rooms/:id/messages', requireUser, async (req, res) => {
    const { id } = parseInput(roomParamsSchema, req.params);
    const page = parseInput(historyQuerySchema, req.query);
    res.json(await history(stores.chat, currentUser(req), id, page));
  });

  return r;
}
