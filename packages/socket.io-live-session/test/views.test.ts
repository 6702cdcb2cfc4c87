/**
 * The copy of a live view that a handshake's `get` is answered with (views.ts, LiveView#copy):
 * the caller's own, as a store read would give it, made from JSON kept once per change.
 */
import { expect } from 'chai';
import { snapshotOf } from '../src/store.js';
import type { LiveMeta, SessionFields } from '../src/types.js';
import { LiveView } from '../src/views.js';

const meta = (v: number): LiveMeta => ({ v, exp: Date.now() + 60_000, createdAt: 1, seenAt: 1 });
const data = (extra: object) => ({ cookie: { originalMaxAge: null, httpOnly: true, path: '/' }, passport: { user: 'u1' }, ...extra }) as unknown as SessionFields;

describe('LiveView#copy (a handshake answered from a live view)', () => {
  it('gives each caller data of its own, nested objects included, equal to the view', () => {
    const view = new LiveView('sid');
    view.update({ data: data({ prefs: { theme: 'dark', tags: ['a'] } }), meta: meta(1) });
    const first = view.copy();
    const second = view.copy();
    expect(first.data).to.deep.equal(view.data);
    expect(first.meta).to.equal(view.meta);
    expect(first.data).to.not.equal(second.data);
    // What express-session and a handshake's middleware do to theirs reaches neither the view nor another copy.
    const mine = first.data as unknown as { prefs: { theme: string; tags: string[] }; passport: { user: string; extra?: boolean } };
    mine.prefs.theme = 'light';
    mine.prefs.tags.push('b');
    mine.passport.extra = true;
    expect(second.data).to.deep.equal(view.data);
    expect((view.data as unknown as { prefs: { theme: string } }).prefs.theme).to.equal('dark');
  });

  it("is what a store read gives: JSON's values (a Date the app put in through a socket is its ISO string)", () => {
    const view = new LiveView('sid');
    const at = new Date('2026-12-01T00:00:00.000Z');
    view.update({ data: data({ at, gone: undefined }), meta: meta(1) });
    const { data: copy } = view.copy();
    expect((copy as unknown as { at: unknown }).at).to.equal('2026-12-01T00:00:00.000Z');
    expect(copy).to.not.have.property('gone');
  });

  it('shares one snapshot (what writes are merged against) until the view changes', () => {
    const view = new LiveView('sid');
    view.update({ data: data({ theme: 'dark' }), meta: meta(1) });
    const a = view.copy();
    const b = view.copy();
    expect(a.snapshot).to.equal(b.snapshot);
    expect([...a.snapshot]).to.deep.equal([...snapshotOf(a.data)]);
    view.update({ data: data({ theme: 'light' }), meta: meta(2) });
    const c = view.copy();
    expect(c.snapshot).to.not.equal(a.snapshot);
    expect(c.snapshot.get('theme')).to.equal('"light"');
    expect((c.data as unknown as { theme: string }).theme).to.equal('light');
    expect(c.meta.v).to.equal(2);
    // The earlier copies keep the basis they were made on.
    expect(a.snapshot.get('theme')).to.equal('"dark"');
  });
});
