/** Socket.IO room names, built in one place. */
export const socketRooms = {
  room: (roomId: string) => `room:${roomId}`,
  user: (userId: string) => `user:${userId}`,
};
