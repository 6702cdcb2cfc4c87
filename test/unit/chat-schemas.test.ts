import { expect } from 'chai';
import { addMemberBodySchema, createRoomBodySchema, emojiSchema, historyQuerySchema, memberParamsSchema, textSchema } from '../../src/chat/schemas.js';
import { clientEventSchemas } from '../../src/realtime/handlers/index.js';

const {
  'dm:history': dmHistorySchema,
  'dm:send': dmSendSchema,
  'message:history': messageHistorySchema,
  'message:send': messageSendSchema,
  'presence:list': presenceListSchema,
  'reaction:toggle': reactionToggleSchema,
  'room:join': roomJoinSchema,
  'room:leave': roomLeaveSchema,
  typing: typingSchema,
} = clientEventSchemas;

const ok = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  expect(schema.safeParse(value).success, JSON.stringify(value)).to.equal(true);
const bad = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) =>
  expect(schema.safeParse(value).success, JSON.stringify(value)).to.equal(false);

describe('chat schemas', () => {
  it('has one schema per client event of the protocol', () => {
    expect(Object.keys(clientEventSchemas).sort()).to.deep.equal(
      ['dm:history', 'dm:send', 'message:history', 'message:send', 'presence:list', 'reaction:toggle', 'room:join', 'room:leave', 'typing'].sort(),
    );
  });

  it('strips identity claims and any other unknown key from every payload', () => {
    const claims = { user_id: 'x', userId: 'x', user: { id: 'x' }, from: 'mallory', owner: 'mallory', extra: 1 };
    const valid: Record<string, unknown> = {
      'room:join': { roomId: 'general' },
      'room:leave': { roomId: 'general' },
      'message:send': { roomId: 'general', text: 'hi' },
      'message:history': { roomId: 'general' },
      typing: { roomId: 'general', typing: true },
      'reaction:toggle': { roomId: 'general', messageId: '1-0', emoji: '👍' },
      'dm:send': { to: 'bob', text: 'hi' },
      'dm:history': { with: 'bob' },
      'presence:list': {},
    };
    for (const [event, schema] of Object.entries(clientEventSchemas)) {
      const parsed = schema.parse({ ...(valid[event] as object), ...claims }) as object;
      expect(parsed, event).to.deep.equal(valid[event]);
    }
    expect(createRoomBodySchema.parse({ id: 'x', ...claims })).to.deep.equal({ id: 'x' });
    expect(addMemberBodySchema.parse({ username: 'bob', ...claims })).to.deep.equal({ username: 'bob' });
  });

  it('rejects non-objects and missing fields instead of throwing elsewhere', () => {
    for (const schema of Object.values(clientEventSchemas).filter((s) => s !== presenceListSchema)) {
      for (const v of [undefined, null, 'x', 42, [], {}]) bad(schema, v);
    }
    ok(presenceListSchema, undefined);
    expect(presenceListSchema.parse(undefined)).to.deep.equal({});
    bad(presenceListSchema, 'x');
  });

  it('accepts 1-2000 characters after trimming, keeping the text verbatim', () => {
    expect(textSchema.parse('  hi  ')).to.equal('  hi  ');
    ok(textSchema, 'a'.repeat(2000));
    ok(textSchema, ` ${'a'.repeat(2000)}\n`);
    ok(textSchema, '😀'.repeat(2000)); // characters, not UTF-16 units
    bad(textSchema, 'a'.repeat(2001));
    bad(textSchema, '');
    bad(textSchema, '   \n\t ');
    bad(textSchema, `x${' '.repeat(5000)}`); // padding cannot smuggle a huge payload into storage
    bad(textSchema, 5);
    bad(messageSendSchema, { roomId: 'general', text: '  ' });
    bad(dmSendSchema, { to: 'bob', text: '' });
  });

  it('checks room ids, usernames, message ids, limits and clientMsgId', () => {
    ok(roomJoinSchema, { roomId: 'a' });
    ok(roomJoinSchema, { roomId: 'a-b-0'.padEnd(32, 'x') });
    bad(roomJoinSchema, { roomId: 'x'.repeat(33) });
    for (const roomId of ['', 'General', 'a b', 'a_b', 'room:x', 'é']) bad(roomLeaveSchema, { roomId });
    ok(roomJoinSchema, { roomId: 'general', since: '1732200000000-0' });
    for (const since of ['1732200000000', '-0', 'a-1', '1-2-3', '12345678901234567-0', '1-12345678901', '+', '-']) {
      bad(roomJoinSchema, { roomId: 'general', since });
    }
    ok(dmSendSchema, { to: 'bob_1', text: 'x' });
    for (const to of ['bo', 'Bob', 'b-ob', 'x'.repeat(33)]) bad(dmSendSchema, { to, text: 'x' });
    ok(messageHistorySchema, { roomId: 'general', before: '5-1', limit: 100 });
    ok(messageHistorySchema, { roomId: 'general', after: '5-1', before: '9-0', limit: 100 });
    for (const after of ['5', 'x-1', 7]) bad(messageHistorySchema, { roomId: 'general', after });
    for (const limit of [0, 101, 1.5, '10']) bad(messageHistorySchema, { roomId: 'general', limit });
    ok(dmHistorySchema, { with: 'bob', limit: 1 });
    ok(messageSendSchema, { roomId: 'general', text: 'x', clientMsgId: 'c'.repeat(64) });
    bad(messageSendSchema, { roomId: 'general', text: 'x', clientMsgId: '' });
    bad(messageSendSchema, { roomId: 'general', text: 'x', clientMsgId: 'c'.repeat(65) });
    bad(typingSchema, { roomId: 'general', typing: 'yes' });
  });

  it('accepts short emojis and refuses whitespace, control characters and long strings', () => {
    for (const e of ['👍', '❤️', '👨‍👩‍👧‍👦', ':tada:', '+1']) ok(emojiSchema, e);
    for (const e of ['', ' ', '👍 ', 'a\nb', '\u0000', 'x'.repeat(17)]) bad(emojiSchema, e);
    bad(reactionToggleSchema, { roomId: 'general', messageId: 'nope', emoji: '👍' });
  });

  it('parses HTTP bodies, params and query strings', () => {
    expect(createRoomBodySchema.parse({ id: 'books', name: ' Books ', private: true })).to.deep.equal({ id: 'books', name: 'Books', private: true });
    bad(createRoomBodySchema, { id: 'books', private: 'yes' });
    bad(createRoomBodySchema, { id: 'books', name: '   ' });
    ok(memberParamsSchema, { id: 'books', username: 'bob' });
    bad(memberParamsSchema, { id: 'books', username: 'B' });
    expect(historyQuerySchema.parse({ before: '1-0', limit: '20' })).to.deep.equal({ before: '1-0', limit: 20 });
    expect(historyQuerySchema.parse({})).to.deep.equal({});
    expect(historyQuerySchema.parse({ after: '1-0', before: '3-0' })).to.deep.equal({ after: '1-0', before: '3-0' });
    for (const after of ['nope', ['1-0', '2-0']]) bad(historyQuerySchema, { after });
    for (const limit of ['0', '101', 'abc', '1e2', '-1']) bad(historyQuerySchema, { limit });
  });
});
