import { expect } from 'chai';
import { meBody, registerBody } from '../../src/auth/schemas.js';
import { nameProblem, nameSchema } from '../../src/chat/names.js';
import { createRoomBodySchema } from '../../src/chat/schemas.js';
import { FRIENDLY_NAMES, HOSTILE_NAMES } from '../helpers/names.js';

const displayName = nameSchema('display name');

/** Code points as U+XXXX, so a failure shows the invisible characters it is about. */
const visible = (s: string) => [...s].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');

describe('the name rule (display names and room names)', () => {
  it('accepts names in every script, with emoji sequences, and stores them NFC', () => {
    for (const [what, name] of Object.entries(FRIENDLY_NAMES)) {
      const parsed = displayName.safeParse(name);
      expect(parsed.success, `${what}: ${visible(name)}: ${JSON.stringify(parsed.error?.issues)}`).to.equal(true);
      expect(parsed.data, what).to.equal(name.normalize('NFC'));
    }
  });

  it('refuses control, bidirectional and invisible characters, unassigned code points and lone surrogates', () => {
    for (const [what, name] of Object.entries(HOSTILE_NAMES)) {
      const parsed = displayName.safeParse(name);
      expect(parsed.success, `${what}: ${visible(name)}`).to.equal(false);
      expect(parsed.error?.issues[0]?.message, what).to.match(/^display name (may not contain|must be 1-64 characters)/);
    }
  });

  it('says what is wrong', () => {
    expect(nameProblem('evil\u202Egnp.exe')).to.equal('bidirectional control characters');
    expect(nameProblem('ad\u200Bmin')).to.equal('invisible or control characters');
    expect(nameProblem('a\u0007')).to.equal('invisible or control characters');
    expect(nameProblem('a\u0378')).to.equal('unassigned characters');
    expect(nameProblem('a\uD800')).to.equal('unpaired surrogates');
    expect(nameProblem('Zoë 👩‍💻')).to.equal(undefined);
    expect(displayName.safeParse('a\u2066b').error?.issues[0]?.message).to.equal('display name may not contain bidirectional control characters');
    expect(nameSchema('room name').safeParse('\u200B').error?.issues[0]?.message).to.equal('room name may not contain invisible or control characters');
  });

  it('trims, normalises to NFC and counts 1-64 characters after that', () => {
    expect(displayName.parse('  e\u0301lodie \n')).to.equal('\u00E9lodie');
    expect(displayName.parse('e\u0301'.repeat(64))).to.equal('\u00E9'.repeat(64)); // 128 units before NFC, 64 after
    expect(displayName.safeParse('\u00E9'.repeat(65)).success).to.equal(false);
    expect(displayName.safeParse('   ').error?.issues[0]?.message).to.equal('display name must be 1-64 characters');
    // Surrounding white space goes; the same characters inside a name do not pass.
    expect(displayName.parse('\uFEFFAlice\u2028')).to.equal('Alice');
  });

  it('keeps a joiner only where its script or emoji needs it', () => {
    expect(nameProblem('क्\u200Dष'), 'ZWJ after a virama').to.equal(undefined);
    expect(nameProblem('कं\u200Dक'), 'ZWJ after another Devanagari mark').to.not.equal(undefined);
    expect(nameProblem('\u05D0\u05B0\u200D\u05D1'), 'ZWJ after a Hebrew point (class 10, not a virama)').to.not.equal(undefined);
    expect(nameProblem('\u304B\u3099\u200D\u304B'), 'ZWJ after a kana voiced mark (class 8, not a virama)').to.not.equal(undefined);
    expect(nameProblem('\u1780\u17D2\u200C\u1780'), 'ZWNJ after the Khmer coeng (a virama)').to.equal(undefined);
    expect(nameProblem('می\u200Cخواهم'), 'ZWNJ between Arabic-script letters').to.equal(undefined);
    expect(nameProblem('می\u200C'), 'ZWNJ at the end of Arabic-script text').to.not.equal(undefined);
    expect(nameProblem('ab\u200Dc'), 'ZWJ between Latin letters').to.not.equal(undefined);
    expect(nameProblem('👩\u200D'), 'ZWJ after an emoji with nothing to join').to.not.equal(undefined);
    expect(nameProblem('a\u200D👩'), 'ZWJ between a letter and an emoji').to.not.equal(undefined);
    expect(nameProblem('\u{1F3F4}\u{E0067}\u{E0062}\u{E007F}\u{E0067}'), 'a tag after a complete flag').to.not.equal(undefined);
  });

  it('is the rule of register, PATCH /api/me, /settings and POST /api/rooms alike', () => {
    const body = { username: 'someone', password: 'long enough password' };
    expect(registerBody.safeParse({ ...body, displayName: 'e\u0301' }).data?.displayName).to.equal('\u00E9');
    expect(registerBody.safeParse({ ...body, displayName: 'a\u202Eb' }).success).to.equal(false);
    expect(meBody.safeParse({ displayName: 'e\u0301' }).data?.displayName).to.equal('\u00E9');
    expect(meBody.safeParse({ displayName: 'a\u202Eb' }).success).to.equal(false);
    expect(createRoomBodySchema.safeParse({ id: 'r', name: ' e\u0301 ' }).data?.name).to.equal('\u00E9');
    expect(createRoomBodySchema.safeParse({ id: 'r', name: 'a\u200Bb' }).error?.issues[0]?.message).to.equal(
      'room name may not contain invisible or control characters',
    );
  });
});
