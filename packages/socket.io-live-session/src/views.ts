import { snapshotOf, type KnownRecord, type LiveStore } from './store.js';
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
/**
 * A record found gone before its deadline, with no reason known yet: a destroy
 * through the live store always announces its reason on the bus, so wait this
 * long for it; without one, the store dropped the record on its own: `expired`.
 */
const REASON_WAIT_MS = 1_000;

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
 * A view is registered before its first read (so that no change published
 * during that read is missed) and is `loaded` once the read came back.
 */
export class LiveView {
  readonly members = new Set<Member>();
  ended: EndReason | null = null;
  /** Found gone without a reason yet: sockets read nothing from now on, the end follows. */
  vanished: NodeJS.Timeout | undefined;
  /** Why the bus said the session ended, kept until a read confirms the record is gone (a read may fail first). */
  told: EndReason | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Set while an activity touch is being written, so bursts of events write once. */
  touching = false;
  /**
   * The view may have missed a change: its last re-read failed, or the bus is or was cut
   * off since its read. A CONNECT then reads the store instead of trusting it; a successful
   * re-read with the bus up clears it.
   */
  stale = false;
  userKey: string | undefined;
  data: SessionFields | undefined;
  meta: LiveMeta | undefined;
  private cached: SessionSnapshot | undefined;
  /** The data as JSON, and the snapshot of it, for the copies handshakes get (see copy): made once per change. */
  private serialized: { json: string; snapshot: ReadonlyMap<string, string> } | undefined;

  constructor(readonly sid: string) {}

  get loaded(): boolean {
    return this.data !== undefined;
  }

  /** Whether sockets may read and write through it. */
  get live(): boolean {
    return this.loaded && !this.ended && !this.vanished;
  }

  /** The session data as sockets read it: a frozen copy without the cookie, built once per change. */
  get snapshot(): SessionSnapshot {
    if (!this.cached) {
      const { cookie: _cookie, ...rest } = this.data!;
      this.cached = deepFreeze(structuredClone(rest)) as SessionSnapshot;
    }
    return this.cached;
  }

  /**
   * A copy of the record that is the caller's own, as a store read would give it: session
   * data is JSON in every store, so one parse of JSON made once per change (about 1 µs,
   * where a structured clone of the object is nearer 3), and its snapshot, shared.
   */
  copy(): KnownRecord {
    if (this.serialized) return { data: JSON.parse(this.serialized.json) as SessionFields, meta: this.meta!, snapshot: this.serialized.snapshot };
    // The first copy after a change is the one its snapshot is made from (snapshotOf only reads it).
    const json = JSON.stringify(this.data);
    const data = JSON.parse(json) as SessionFields;
    this.serialized = { json, snapshot: snapshotOf(data) };
    return { data, meta: this.meta!, snapshot: this.serialized.snapshot };
  }

  update(record: LiveRecord) {
    this.data = record.data;
    this.meta = record.meta;
    this.cached = undefined;
    this.serialized = undefined;
  }
}

interface Refresh {
  again: boolean;
  done: Promise<boolean>;
}

export interface LiveViewsOptions {
  store: LiveStore;
  bus: LiveBus;
  userOf: (data: SessionFields) => string | undefined;
  log: Log | undefined;
  /** A view's data changed (not called for the first read). */
  onChange: (view: LiveView) => void;
  /** Only a view's deadline moved (activity somewhere). */
  onExtend: (view: LiveView) => void;
  /** The view ended: called before its members are told and disconnected. */
  onEnd: (view: LiveView, reason: EndReason) => void;
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
  private readonly unsubscribe: () => void;
  /** The bus is cut off: a view is current only as of its last read, until the resync. */
  private cutOff = false;

  constructor(private readonly o: LiveViewsOptions) {
    this.unsubscribe = o.bus.subscribe((m) => this.onBusMessage(m));
    o.bus.onCutOff(() => {
      this.cutOff = true;
      for (const view of this.bySid.values()) view.stale = true;
    });
    o.bus.onResync(() => {
      this.cutOff = false;
      this.refreshAll();
    });
  }

  get size() {
    return this.bySid.size;
  }

  private onBusMessage(m: BusMessage) {
    if (m.t !== 'session' || typeof m.sid !== 'string') return;
    const view = this.bySid.get(m.sid);
    if (!view) return;
    if (m.reason) view.told ??= m.reason as EndReason;
    void this.refresh(m.sid);
  }

  /** Re-reads every session held here (after notifications may have been missed). */
  refreshAll() {
    for (const sid of this.bySid.keys()) void this.refresh(sid);
  }

  /**
   * Admits a socket at its Socket.IO CONNECT: resolves to the session's live
   * view, or null when the session has no user or ended after the Engine.IO
   * handshake found it. The first socket of a session on this process reads the
   * record (its view registered first, so that a change published during that
   * read is not missed); later sockets use the view the bus keeps current, once a
   * re-read in flight is done, and read again when it may have missed a change (a
   * failed re-read, a bus cut-off). Rejects when the store cannot be read: the
   * socket is then refused, never admitted unchecked. The socket becomes a member
   * with `join`.
   *
   * The first socket's read is not the handshake's: reusing it was measured (about
   * 8% of the server CPU per handshake) and dropped, since a session ended between
   * the handshake and the CONNECT must be refused even when the bus's notice of it
   * has not arrived yet (Redis writes the notice and the ender's reply in no fixed
   * order): only a read at CONNECT is sure.
   */
  async admit(sid: string): Promise<LiveView | null> {
    let view = this.bySid.get(sid);
    if (!view) view = this.register(sid);
    const pending = this.refreshing.get(sid);
    const current = pending ? await pending.done : this.vouches(view) ? true : await this.refresh(sid);
    if (!current) {
      if (view.members.size === 0) this.forget(view);
      throw new Error('the session store did not answer');
    }
    return view.live && this.bySid.get(sid) === view ? view : null;
  }

  /**
   * `admit`'s answer when it needs no read and no wait: the session's view is loaded and
   * vouches for it (not stale, no re-read in flight), as when another socket of the session
   * is here. Undefined otherwise: `admit` reads (or waits for the re-read in flight).
   */
  admitNow(sid: string): LiveView | null | undefined {
    const view = this.bySid.get(sid);
    if (!view || !this.vouches(view) || this.refreshing.has(sid)) return undefined;
    return view.live ? view : null;
  }

  /**
   * The record of a session that a CONNECT would trust without a read (its view loaded,
   * live, not stale, no re-read in flight, before its deadline), as a copy of its own; a
   * handshake of another socket of the session then need not read the store either.
   */
  current(sid: string): KnownRecord | undefined {
    const view = this.bySid.get(sid);
    if (!view?.live || !this.vouches(view) || this.refreshing.has(sid) || view.meta!.exp <= Date.now()) return undefined;
    return view.copy();
  }

  /** The view can stand in for a store read (no re-read in flight aside): read, and it cannot have missed a change since. */
  private vouches(view: LiveView): boolean {
    return view.loaded && !view.stale;
  }

  private register(sid: string): LiveView {
    const view = new LiveView(sid);
    view.stale = this.cutOff;
    this.bySid.set(sid, view);
    setTimeout(() => {
      if (view.members.size === 0 && this.bySid.get(sid) === view) this.forget(view);
    }, UNJOINED_VIEW_MS).unref();
    return view;
  }

  /** The socket is connected: it gets the view's changes and its end. False when the session ended meanwhile. */
  join(view: LiveView, member: Member): boolean {
    if (!view.live || this.bySid.get(view.sid) !== view) return false;
    view.members.add(member);
    return true;
  }

  leave(view: LiveView, member: Member) {
    view.members.delete(member);
    if (view.members.size === 0) this.forget(view);
  }

  private forget(view: LiveView) {
    clearTimeout(view.timer);
    clearTimeout(view.vanished);
    if (this.bySid.get(view.sid) === view) this.bySid.delete(view.sid);
  }

  /** Client activity: pushes the idle deadline out, at most once per touch interval. */
  activity(view: LiveView) {
    if (!view.live || view.touching || !this.o.store.touchDue(view.meta!)) return;
    view.touching = true;
    this.o.store
      .extend(view.sid)
      .catch((err: unknown) => this.o.log?.warn({ err: String(err) }, 'session touch failed'))
      .finally(() => (view.touching = false));
  }

  /** Applies a record the caller read (e.g. after its own write) without another read. */
  apply(view: LiveView, record: LiveRecord | null) {
    this.applyRecord(view, record);
  }

  private scheduleExpiry(view: LiveView) {
    clearTimeout(view.timer);
    const delay = Math.min(Math.max(view.meta!.exp - Date.now() + EXPIRY_SLACK_MS, 0), MAX_TIMER_MS);
    view.timer = setTimeout(() => void this.refresh(view.sid), delay);
    view.timer.unref();
  }

  /**
   * Re-reads a session; coalesces bursts so at most one read per session is in
   * flight. Resolves (never rejects) once the view reflects a read that began
   * after this call: true, or false when the store could not be read.
   */
  refresh(sid: string): Promise<boolean> {
    const pending = this.refreshing.get(sid);
    if (pending) {
      pending.again = true;
      return pending.done;
    }
    const state: Refresh = { again: false, done: Promise.resolve(true) };
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
        view.stale = this.cutOff; // while cut off, changes after this read would not be heard
        this.applyRecord(view, record);
      } while (state.again);
      return true;
    } catch (err) {
      const view = this.bySid.get(sid);
      if (view) view.stale = true;
      // Usually Redis being away; the bus resyncs every session when it is back,
      // and this retry covers anything else. The session id itself is never logged.
      this.o.log?.warn({ err: String(err) }, 'session refresh failed; retrying in 2 s');
      setTimeout(() => void this.refresh(sid), 2000).unref();
      return false;
    } finally {
      this.refreshing.delete(sid);
    }
  }

  private applyRecord(view: LiveView, record: LiveRecord | null) {
    if (view.ended) return;
    if (!view.loaded) return this.load(view, record);
    if (!record) return this.gone(view);
    // Its user changed or left without a destroy: the sockets were that user's.
    if (this.o.userOf(record.data) !== view.userKey) return this.end(view, view.told ?? 'logout');
    const meta = view.meta!;
    if (record.meta.v === meta.v && record.meta.exp === meta.exp) return;
    const changed = record.meta.v !== meta.v;
    view.update(record);
    this.scheduleExpiry(view);
    if (changed) this.o.onChange(view);
    else this.o.onExtend(view);
  }

  /** The first read of a view being admitted: nothing to tell anyone; no session or no user: not admitted. */
  private load(view: LiveView, record: LiveRecord | null) {
    const userKey = record ? this.o.userOf(record.data) : undefined;
    if (!record || userKey === undefined) return this.end(view, 'logout');
    view.userKey = userKey;
    view.update(record);
    this.scheduleExpiry(view);
  }

  /** The record is gone: ended for the bus's reason, or at its deadline; otherwise wait a moment for a reason. */
  private gone(view: LiveView) {
    if (view.told) return this.end(view, view.told);
    if (Date.now() >= view.meta!.exp) return this.end(view, 'expired');
    view.vanished ??= setTimeout(() => this.end(view, 'expired'), REASON_WAIT_MS);
    view.vanished.unref();
  }

  /** Ends the view: every socket of it gets `session:ended {reason}` and is disconnected. */
  end(view: LiveView, reason: EndReason) {
    if (view.ended) return;
    view.ended = reason;
    this.forget(view);
    clearTimeout(view.vanished);
    this.o.onEnd(view, reason);
    const members = [...view.members];
    // Tell every socket first: sockets of several namespaces may share one connection, which the first disconnect closes.
    for (const m of members) m.emit('session:ended', { reason });
    for (const m of members) m.disconnect(true);
    view.members.clear();
  }

  /** Stops everything (shutdown): timers, the subscription. The app closes the sockets. */
  close() {
    this.unsubscribe();
    for (const view of this.bySid.values()) {
      clearTimeout(view.timer);
      clearTimeout(view.vanished);
    }
    this.bySid.clear();
  }
}
