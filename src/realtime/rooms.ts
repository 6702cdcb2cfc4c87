/** Socket.IO room names, built in one place. */
export const socketRooms = {
  room: (roomId: string) => `room:${roomId}`,
  /** Whether a Socket.IO room name is a chat room's (not a user's or a socket's own). */
  isRoom: (name: string) => name.startsWith('room:'),
  user: (userId: string) => `user:${userId}`,
  /** Whether a Socket.IO room name is a user's own room. */
  isUser: (name: string) => name.startsWith('user:'),
  /** The user id of a user's own room. */
  userId: (name: string) => name.slice('user:'.length),
};
