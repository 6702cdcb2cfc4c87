/*
 * Fakes for the DOM-free chat core (public/js/chat/core/): a socket whose
 * acknowledgements the test decides (now, or later by hand), an HTTP API, and
 * a page sink that records what it was asked to show.
 */
import { createChatCore } from '../../public/js/chat/core/chat-core.js';
import type { Conversation } from '../../public/js/chat/core/conversation.js';
import type { ApiResult, ChatApi, CoreUi, Link, Message, Room, User } from '../../public/js/chat/types.js';

export type Ack = { ok: true; [key: string]: unknown } | { ok: false; error: { code: string; message: string } };
type Answer = Ack | ((payload: any) => Ack | Promise<Ack>);

export const fail = (code: string, message = code): Ack => ({ ok: false, error: { code, message } });

const user = (username: string): User => ({ id: `id-${username}`, username, displayName: username.toUpperCase() });

/** A message `id` (`<ms>-<seq>`, e.g. `5-0`) in `roomId`, from `from`. */
export function msg(id: string, opts: { roomId?: string; from?: string; to?: string; clientMsgId?: string; text?: string } = {}): Message {
  return {
    id,
    roomId: opts.roomId ?? 'general',
    user: user(opts.from ?? 'bob'),
    text: opts.text ?? `text ${id}`,
    ts: new Date(Number(id.split('-')[0]) * 1000).toISOString(),
    ...(opts.clientMsgId && { clientMsgId: opts.clientMsgId }),
    ...(opts.to && { to: opts.to }),
  };
}

export const room = (id: string, extra: Partial<Room> = {}): Room => ({ id, name: `Room ${id}`, private: false, owner: null, ...extra });

/** `count` messages with consecutive ids `<from>-0`, `<from + 1>-0`, … */
export const range = (from: number, count: number, roomId = 'general') => Array.from({ length: count }, (_, i) => msg(`${from + i}-0`, { roomId }));

/** A socket: each event is answered by what `answer` set for it (by default `offline`), or held until `release`d. */
export class FakeLink {
  connected = true;
  ended = false;
  readonly sent: { event: string; payload: any }[] = [];
  private answers = new Map<string, Answer>();
  private held = new Map<string, { payload: any; resolve: (ack: Ack) => void }[]>();
  private holding = new Set<string>();

  answer(event: string, answer: Answer) {
    this.answers.set(event, answer);
    return this;
  }

  /** From now on, `event` is not answered until `release(event, ack)`. */
  hold(event: string) {
    this.holding.add(event);
    return this;
  }

  /** Answers the oldest held `event` (with `ack`, or what `answer` set). */
  async release(event: string, ack?: Ack) {
    const next = this.held.get(event)?.shift();
    if (!next) throw new Error(`no ${event} is waiting`);
    next.resolve(ack ?? (await this.reply(event, next.payload)));
    await settle();
  }

  waiting(event: string) {
    return this.held.get(event)?.map((h) => h.payload) ?? [];
  }

  of(event: string) {
    return this.sent.filter((s) => s.event === event).map((s) => s.payload);
  }

  request = (event: string, payload: unknown): Promise<any> => {
    if (!this.connected) return Promise.resolve(fail('offline'));
    this.sent.push({ event, payload });
    if (!this.holding.has(event)) return this.reply(event, payload);
    return new Promise((resolve) => {
      const queue = this.held.get(event) ?? [];
      queue.push({ payload, resolve });
      this.held.set(event, queue);
    });
  };

  private async reply(event: string, payload: unknown): Promise<Ack> {
    const answer = this.answers.get(event);
    if (!answer) return fail('offline');
    return typeof answer === 'function' ? answer(payload) : answer;
  }
}

/** The page: records what the core asked it to do. */
export class FakeUi implements CoreUi {
  readonly log: [string, ...unknown[]][] = [];
  readonly notices: string[] = [];
  isUnderfilled = false;
  shown: Conversation[] = [];
  roomLists: { rooms: Room[]; changed: boolean }[] = [];
  online: User[] = [];
  unseenCount = 0;
  dmNames = new Map<string, string>();
  joinedRoom: string | null = null;

  show = (conv: Conversation) => void this.shown.push(conv);
  update = (conv: Conversation, opts?: object) => void this.log.push(['update', conv.key, opts]);
  updateEdge = (conv: Conversation) => void this.log.push(['edge', conv.key]);
  underfilled = () => this.isUnderfilled;
  unseen = (count: number) => void (this.unseenCount += count);
  unread = (conv: Conversation) => void this.log.push(['unread', conv.target, conv.unread]);
  reactions = (conv: Conversation, messageId: string) => void this.log.push(['reactions', conv.key, messageId]);
  notice = (text: string) => void this.notices.push(text);
  joined = (roomId: string | null) => void (this.joinedRoom = roomId);
  leftRoom = () => void this.log.push(['leftRoom']);
  pick = (roomId: string) => void this.log.push(['pick', roomId]);
  closeDrawer = () => undefined;
  rooms = (rooms: Room[], changed: boolean) => void this.roomLists.push({ rooms, changed });
  presence = (users: User[]) => void (this.online = users);
  dmSeen = (username: string, displayName: string) => void this.dmNames.set(username, displayName);
  dmName = (username: string) => this.dmNames.get(username);

  get active() {
    return this.shown.at(-1);
  }
}

export class FakeApi implements ChatApi {
  rooms: Room[] = [room('general')];
  calls = 0;
  listRooms = async (): Promise<ApiResult> => {
    this.calls += 1;
    return { ok: true, status: 200, data: { rooms: this.rooms } };
  };
  createRoom = async (): Promise<ApiResult> => ({ ok: false, status: 500, error: { code: 'unused', message: 'unused' } });
  addMember = this.createRoom;
  removeMember = this.createRoom;
  signedIn = async () => true;
}

/** Lets every promise already resolved run its continuations. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A core for `me` = alice on `fakes`, with fixed ids (`c1`, `c2`, …) and a fixed clock. */
export function makeCore(opts: { initialRoom?: string } = {}) {
  const link = new FakeLink();
  const ui = new FakeUi();
  const api = new FakeApi();
  let n = 0;
  const core = createChatCore({
    me: { username: 'alice', displayName: 'ALICE' },
    initialRoom: opts.initialRoom ?? 'general',
    link: link as unknown as Link,
    api,
    ui,
    now: () => new Date('2024-01-01T00:00:00Z'),
    newId: () => `c${++n}`,
  });
  return { core, link, ui, api };
}

/** Answers `room:join` for any room with its name and `history` (by room), `hasMore` false unless given. */
export function joinAnswers(history: Record<string, Message[]> = {}, hasMore: Record<string, boolean> = {}) {
  return ({ roomId }: { roomId: string }): Ack => ({ ok: true, room: room(roomId), history: history[roomId] ?? [], hasMore: hasMore[roomId] ?? false });
}

export const ids = (conv: Conversation | undefined) => conv?.messages.map((m) => m.id) ?? [];
