import { z } from 'zod';
import { roomConversation } from '../../chat/conversations.js';
import { joinRoom, requireRoomAccess } from '../../chat/rooms.js';
import { messageIdSchema, roomIdSchema } from '../../chat/schemas.js';
import { defineHandler } from '../handler.js';
import { socketRooms } from '../rooms.js';

/** `room:join {roomId, since?}`: joins the room's broadcasts; answers the room and its latest page (or the gap after `since`). */
export const roomJoin = defineHandler({
  event: 'room:join',
  schema: z.object({ roomId: roomIdSchema, since: messageIdSchema.optional() }),
  async handle({ roomId, since }, ctx) {
    const room = socketRooms.room((await requireRoomAccess(ctx.chat, ctx.user, roomId)).id);
    await ctx.joinHeld(ctx.socket, room);
    // History is read after joining, so a message stored meanwhile is in it or arrives
    // live (clients dedupe by id); and joinRoom checks access again, so a removal that
    // ran since the first check cannot leave this socket in the room.
    let result: Awaited<ReturnType<typeof joinRoom>>;
    try {
      result = await joinRoom(ctx.chat, ctx.user, roomId, since ? { since } : {});
    } catch (err) {
      await ctx.socket.leave(room);
      throw err;
    }
    // Nothing up to the newest message read (or `since`) can be missed here after a blip; the client pages on from there.
    ctx.caughtUp(room, roomConversation(result.room.id), result.history.at(-1)?.id ?? since);
    // The live view says whether the session already names this room: a rejoin
    // (reconnects do it all the time) then costs no lock and no store read.
    if (ctx.session.lastRoomId !== result.room.id) {
      await ctx.live.update(ctx.socket, (draft) => {
        if (draft.lastRoomId === result.room.id) return false;
        draft.lastRoomId = result.room.id;
      });
    }
    return result;
  },
});
