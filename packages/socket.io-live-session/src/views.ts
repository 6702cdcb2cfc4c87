import type { LiveStore } from './store.js';
import type { BusMessage, EndReason, LiveBus, LiveMeta, LiveRecord, Log, SessionFields, SessionSnapshot } from './types.js';

/** The part of a Socket.IO socket a view needs. */
export interface Member {
  emit(event: 'session:ended', payload: { reason: EndReason }): unknown;
  disconnect(close?: boolean): unknown;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Fire the expiry check just after the deadline, so the record is certainly past it. */
const EXPIRY_SLACK_MS = 25;
/** A view made for a socket that never connects (refused by a later middleware, gone) is dropped after this. */
const UNJOINED_VIEW_MS = 10_000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * This process's view of one session, shared by all of its sockets here. Kept
 * current by bus notifications, so sockets read it without a store round trip.
 */
export class LiveView {
  readonly members = new Set<Member>();
  ended: EndReason | null = null;
  timer: NodeJS.Timeout | undefined;
  /** Set while an activity touch is being written, so bursts of events write once. */
  touching = false;
  private cached: SessionSnapshot | undefined;

  constructor(
    readonly sid: string,
    readonly userKey: string,
    public data: SessionFields,
    public meta: LiveMeta,
  ) {}

  /** The session data as sockets read it: a frozen copy without the cookie, built once per change. */
  get snapshot(): SessionSnapshot {
    if (!this.cached) {
      const { cookie: _cookie, ...rest } = this.data;
      this.cached = deepFreeze(structuredClone(rest)) as SessionSnapshot;
    }
    return this.cached;
  }

  update(record: LiveRecord) {
    this.data = record.data;
    this.meta = record.meta;
    this.cached = undefined;
  }
}

interface Refresh {
  again: boolean;
  reason: EndReason | undefined;
  done: Promise<boolean>;
}

export interface LiveViewsOptions {
  store: LiveStore;
  bus: LiveBus;
  userOf: (data: SessionFields) => string | undefined;
  log: Log | undefined;
  /** A view's data changed (not called for the first read). */
  onChange: (view: LiveView) => void;
}

/**
 * The registry of live sessions with sockets on this process. It turns change
 * notifications into fresh views, or into ended sockets (`session:ended` and a
 * server-side disconnect), and ends sockets at their session's idle deadline
 * even if nobody writes anything.
 */
export class LiveViews {
  private readonly bySid = new Map<string, LiveView>();
  private readonly refreshing = new Map<string, Refresh>();
  /** The first read of a session being admitted here, which its other sockets' admissions wait for too. */
  private readonly admitting = new Map<string, Promise<boolean>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly o: LiveViewsOptions) {
    this.unsubscribe = o.bus.subscribe((m) => this.onBusMessage(m));
    o.bus.onResync(() => this.refreshAll());
  }

  get size() {
    return this.bySid.size;
  }

  find(sid: string): LiveView | undefined {
    return this.bySid.get(sid);
  }

  /** Every view held here (for the app's own refreshes, e.g. after a user changed). */
  views(): IterableIterator<LiveView> {
    return this.bySid.values();
  }

  private onBusMessage(m: BusMessage) {
    if (m.t === 'session' && typeof m.sid === 'string' && this.bySid.has(m.sid)) void this.refresh(m.sid, m.reason as EndReason | undefined);
  }

  /** Re-reads every session held here (after notifications may have been missed). */
  refreshAll() {
    for (const sid of this.bySid.keys()) void this.refresh(sid);
  }

  /**
   * Admits a socket of a handshake at its Socket.IO CONNECT: resolves to the
   * session's live view, or null when the session ended after the Engine.IO
   * handshake loaded it. The first socket of a session on this process reads the
   * record again, with the view registered first so that a change published
   * during that read is not missed; later sockets use the view the bus keeps
   * current. Rejects when the store cannot be read: the socket is then refused,
   * never admitted unchecked. The socket becomes a member with `join`.
   */
  async admit(sid: string, handshake: () => LiveRecord): Promise<LiveView | null> {
    let view = this.bySid.get(sid);
    let check = this.admitting.get(sid);
    if (!view) {
      const { data, meta } = handshake();
      const userKey = this.o.userOf(data);
      if (userKey === undefined) return null;
      view = this.register(sid, userKey, data, meta);
      check = this.refresh(sid);
      this.admitting.set(sid, check);
      void check.finally(() => this.admitting.delete(sid));
    }
    if (check && !(await check)) {
      if (view.members.size === 0) this.forget(view);
      throw new Error('the session store did not answer');
    }
    return view.ended || this.bySid.get(sid) !== view ? null : view;
  }

  private register(sid: string, userKey: string, data: SessionFields, meta: LiveMeta): LiveView {
    const view = new LiveView(sid, userKey, data, meta);
    this.bySid.set(sid, view);
    this.scheduleExpiry(view);
    setTimeout(() => {
      if (view.members.size === 0 && this.bySid.get(sid) === view) this.forget(view);
    }, UNJOINED_VIEW_MS).unref();
    return view;
  }

  /** The socket is connected: it gets the view's changes and its end. False when the session ended meanwhile. */
  join(view: LiveView, member: Member): boolean {
    if (view.ended || this.bySid.get(view.sid) !== view) return false;
    view.members.add(member);
    return true;
  }

  leave(view: LiveView, member: Member) {
    view.members.delete(member);
    if (view.members.size === 0) this.forget(view);
  }

  private forget(view: LiveView) {
    clearTimeout(view.timer);
    if (this.bySid.get(view.sid) === view) this.bySid.delete(view.sid);
  }

  /** Client activity: pushes the idle deadline out, at most once per touch interval. */
  activity(view: LiveView) {
    if (view.ended || view.touching || !this.o.store.touchDue(view.meta)) return;
    view.touching = true;
    this.o.store
      .extend(view.sid)
      .catch((err: unknown) => this.o.log?.warn({ err: String(err) }, 'session touch failed'))
      .finally(() => (view.touching = false));
  }

  /** Applies a record the caller read (e.g. after its own write) without another read. */
  apply(view: LiveView, record: LiveRecord | null) {
    this.applyRecord(view, record, undefined);
  }

  private scheduleExpiry(view: LiveView) {
    clearTimeout(view.timer);
    const delay = Math.min(Math.max(view.meta.exp - Date.now() + EXPIRY_SLACK_MS, 0), MAX_TIMER_MS);
    view.timer = setTimeout(() => void this.refresh(view.sid), delay);
    view.timer.unref();
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
        const view = this.bySid.get(sid);
        if (!view) break;
        const record = await this.o.store.read(sid);
        this.applyRecord(view, record, state.reason);
      } while (state.again);
      return true;
    } catch (err) {
      // Usually Redis being away; the bus resyncs every session when it is back,
      // and this retry covers anything else. The session id itself is never logged.
      this.o.log?.warn({ err: String(err) }, 'session refresh failed; retrying in 2 s');
      setTimeout(() => void this.refresh(sid), 2000).unref();
      return false;
    } finally {
      this.refreshing.delete(sid);
    }
  }

  private applyRecord(view: LiveView, record: LiveRecord | null, reason: EndReason | undefined) {
    if (view.ended) return;
    // Gone: destroyed (the bus says why), or past its deadline, or dropped by the store on its own.
    if (!record) return this.end(view, reason ?? (Date.now() >= view.meta.exp ? 'expired' : 'logout'));
    // Its user changed or left without a destroy: the sockets were that user's.
    if (this.o.userOf(record.data) !== view.userKey) return this.end(view, reason ?? 'logout');
    if (record.meta.v === view.meta.v && record.meta.exp === view.meta.exp) return;
    const changed = record.meta.v !== view.meta.v;
    view.update(record);
    this.scheduleExpiry(view);
    if (changed) this.o.onChange(view);
  }

  /** Ends the view: every socket of it gets `session:ended {reason}` and is disconnected. */
  end(view: LiveView, reason: EndReason) {
    if (view.ended) return;
    view.ended = reason;
    this.forget(view);
    for (const m of [...view.members]) {
      m.emit('session:ended', { reason });
      m.disconnect(true);
    }
    view.members.clear();
  }

  /** Stops everything (shutdown): timers, the subscription. The app closes the sockets. */
  close() {
    this.unsubscribe();
    for (const view of this.bySid.values()) clearTimeout(view.timer);
    this.bySid.clear();
  }
}
