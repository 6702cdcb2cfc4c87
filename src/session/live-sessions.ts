import type { Logger } from '../logger.js';
import type { User } from '../chat/types.js';
import type { Bus, BusMessage, UserStore } from '../store/types.js';
import type { LiveRecord, LiveSessionStore } from './live-store.js';
import { credentialsCurrent, type EndReason, type LiveMeta, type Prefs, type SessionFields } from './types.js';

/** What a socket is told about its session (the `session` event). */
export interface SessionView {
  user: User;
  prefs: Prefs;
  lastRoomId: string | null;
  expiresAt: string;
}

/** The part of a Socket.IO socket this module needs. */
export interface SessionMember {
  emit(event: 'session', view: SessionView): unknown;
  emit(event: 'session:ended', payload: { reason: EndReason }): unknown;
  disconnect(close?: boolean): unknown;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Fire the expiry check just after the deadline, so the record is certainly past it. */
const EXPIRY_SLACK_MS = 25;

/**
 * This process's view of one session, shared by all of its sockets here.
 * Kept current by bus notifications; handlers read it without a store round trip.
 */
export class LiveSession {
  readonly members = new Set<SessionMember>();
  ended: EndReason | null = null;
  timer: NodeJS.Timeout | undefined;
  /** Set while an activity touch is being written, so bursts of events write once. */
  touching = false;

  constructor(
    readonly sid: string,
    public user: User,
    public data: SessionFields,
    public meta: LiveMeta,
  ) {}

  private cached: SessionView | undefined;

  /** The view handlers read: built once per change, not per read. */
  get view(): SessionView {
    return (this.cached ??= {
      user: this.user,
      prefs: this.data.prefs ?? {},
      lastRoomId: this.data.lastRoomId ?? null,
      expiresAt: new Date(this.meta.exp).toISOString(),
    });
  }

  /** Takes a newer record or user; the next read of `view` rebuilds it. */
  update(changes: { data?: SessionFields; meta?: LiveMeta; user?: User }) {
    if (changes.data) this.data = changes.data;
    if (changes.meta) this.meta = changes.meta;
    if (changes.user) this.user = changes.user;
    this.cached = undefined;
  }
}

export interface LiveSessionsOptions {
  store: LiveSessionStore;
  users: UserStore;
  bus: Bus;
  log: Logger;
}

interface Refresh {
  again: boolean;
  reason: EndReason | undefined;
  done: Promise<boolean>;
}

const publicUser = (u: User): User => ({ id: u.id, username: u.username, displayName: u.displayName });

/**
 * The registry of live sessions with sockets on this process. It turns change
 * notifications into fresh views (`session` events) or ended sockets
 * (`session:ended` + server-side disconnect), and ends sockets at their
 * session's idle deadline even if nobody writes anything.
 */
export class LiveSessions {
  private readonly bySid = new Map<string, LiveSession>();
  private readonly byUser = new Map<string, Set<LiveSession>>();
  /** Refreshes in flight per session, whether another was asked for meanwhile, and when they are done. */
  private readonly refreshing = new Map<string, Refresh>();
  /** The first read of a session being admitted here, which its other sockets' admissions wait for too. */
  private readonly admitting = new Map<string, Promise<boolean>>();

  constructor(private readonly o: LiveSessionsOptions) {
    o.bus.subscribe((m) => this.onBusMessage(m));
    o.bus.onResync(() => this.refreshAll());
  }

  /** Re-reads every session held here (after notifications may have been missed). */
  refreshAll() {
    for (const sid of this.bySid.keys()) void this.refresh(sid);
    for (const uid of this.byUser.keys()) void this.refreshUser(uid);
  }

  get size() {
    return this.bySid.size;
  }

  /** The live view of a session held on this process, if any. */
  find(sid: string): LiveSession | undefined {
    return this.bySid.get(sid);
  }

  private onBusMessage(m: BusMessage) {
    if (m.t === 'session' && this.bySid.has(m.sid)) void this.refresh(m.sid, m.reason);
    else if (m.t === 'user' && this.byUser.has(m.uid)) void this.refreshUser(m.uid);
  }

  /**
   * Admits a socket of an authenticated handshake at its Socket.IO CONNECT:
   * resolves to the session's live view, or to null when the session ended
   * after the Engine.IO handshake (logout, revocation or expiry in between).
   * The first socket of a session on this process reads the record again,
   * registered first so that a change published during that read is not
   * missed; later sockets use the view the bus keeps current. Rejects when the
   * store cannot be read (the socket is then refused, not admitted unchecked).
   */
  async admit(member: SessionMember, sid: string, user: User, handshake: () => SessionFields, meta: LiveMeta): Promise<LiveSession | null> {
    let live = this.bySid.get(sid);
    let check = this.admitting.get(sid);
    if (!live) {
      live = this.register(sid, user, handshake(), meta);
      check = this.refresh(sid);
      this.admitting.set(sid, check);
      void check.finally(() => this.admitting.delete(sid));
    }
    if (check && !(await check)) {
      if (live.members.size === 0) this.forget(live);
      throw new Error('the session store did not answer');
    }
    if (live.ended || this.bySid.get(sid) !== live) return null;
    live.members.add(member);
    return live;
  }

  private register(sid: string, user: User, data: SessionFields, meta: LiveMeta): LiveSession {
    const live = new LiveSession(sid, publicUser(user), data, meta);
    this.bySid.set(sid, live);
    let set = this.byUser.get(user.id);
    if (!set) this.byUser.set(user.id, (set = new Set()));
    set.add(live);
    this.scheduleExpiry(live);
    return live;
  }

  detach(member: SessionMember, live: LiveSession) {
    live.members.delete(member);
    if (live.members.size === 0) this.forget(live);
  }

  private forget(live: LiveSession) {
    clearTimeout(live.timer);
    if (this.bySid.get(live.sid) === live) this.bySid.delete(live.sid);
    const set = this.byUser.get(live.user.id);
    set?.delete(live);
    if (set?.size === 0) this.byUser.delete(live.user.id);
  }

  /** Client activity: pushes the idle deadline out, at most once per touch interval. */
  activity(live: LiveSession) {
    if (live.ended || live.touching || !this.o.store.touchDue(live.meta)) return;
    live.touching = true;
    this.o.store
      .extend(live.sid)
      .catch((err: unknown) => this.o.log.warn({ err, user: live.user.username }, 'session touch failed'))
      .finally(() => (live.touching = false));
  }

  /** A strictly fresh read, for the rare handler that cannot act on the cached view. */
  async fresh(live: LiveSession): Promise<LiveSession> {
    const record = await this.o.store.read(live.sid);
    this.apply(live, record, undefined);
    return live;
  }

  /** Applies a record read by the caller (e.g. after its own write) without another read. */
  applyRecord(live: LiveSession, record: LiveRecord | null) {
    this.apply(live, record, undefined);
  }

  private scheduleExpiry(live: LiveSession) {
    clearTimeout(live.timer);
    const delay = Math.min(Math.max(live.meta.exp - Date.now() + EXPIRY_SLACK_MS, 0), MAX_TIMER_MS);
    live.timer = setTimeout(() => void this.refresh(live.sid), delay);
    live.timer.unref();
  }

  /**
   * Re-reads a session; coalesces bursts so at most one read per session is in
   * flight. Resolves (never rejects) once the view reflects a read that began
   * after this call: true, or false when the store could not be read.
   */
  refresh(sid: string, reason?: EndReason): Promise<boolean> {
    const pending = this.refreshing.get(sid);
    if (pending) {
      pending.again = true;
      pending.reason ??= reason;
      return pending.done;
    }
    const state: Refresh = { again: false, reason, done: Promise.resolve(true) };
    this.refreshing.set(sid, state);
    state.done = this.reread(sid, state);
    return state.done;
  }

  private async reread(sid: string, state: Refresh): Promise<boolean> {
    try {
      do {
        state.again = false;
        const live = this.bySid.get(sid);
        if (!live) break;
        const record = await this.o.store.read(sid);
        this.apply(live, record, state.reason);
      } while (state.again);
      return true;
    } catch (err) {
      // Usually Redis being away; the bus resyncs every session when it is back,
      // and this retry covers anything else. The sid itself is never logged.
      this.o.log.warn({ err: String(err) }, 'session refresh failed; retrying in 2 s');
      setTimeout(() => void this.refresh(sid), 2000).unref();
      return false;
    } finally {
      this.refreshing.delete(sid);
    }
  }

  private apply(live: LiveSession, record: LiveRecord | null, reason: EndReason | undefined) {
    if (live.ended) return;
    if (!record) return this.end(live, reason ?? (Date.now() >= live.meta.exp ? 'expired' : 'logout'));
    if (record.data.passport?.user !== live.user.id) return this.end(live, reason ?? 'logout');
    if (record.meta.v === live.meta.v && record.meta.exp === live.meta.exp) return;
    live.update({ data: record.data, meta: record.meta });
    this.scheduleExpiry(live);
    this.emitView(live);
  }

  private emitView(live: LiveSession) {
    const view = live.view;
    for (const m of live.members) m.emit('session', view);
  }

  private end(live: LiveSession, reason: EndReason) {
    live.ended = reason;
    this.forget(live);
    for (const m of [...live.members]) {
      m.emit('session:ended', { reason });
      m.disconnect(true);
    }
    live.members.clear();
  }

  private async refreshUser(uid: string) {
    try {
      const user = await this.o.users.findById(uid);
      for (const live of this.byUser.get(uid) ?? []) {
        // Gone, or logged in with a password that has since changed.
        if (!user || !credentialsCurrent(live.data, user)) {
          this.end(live, 'revoked');
          continue;
        }
        live.update({ user: publicUser(user) });
        this.emitView(live);
      }
    } catch (err) {
      this.o.log.error({ err, uid }, 'user refresh failed');
    }
  }

  /** Ends every session here (shutdown): no event, the sockets are closed by the server. */
  clear() {
    for (const live of this.bySid.values()) clearTimeout(live.timer);
    this.bySid.clear();
    this.byUser.clear();
  }
}
