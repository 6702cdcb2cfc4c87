import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Packet } from 'socket.io-parser';
import { MALFORMED_EVENT, tolerantParser } from '../../src/realtime/parser.js';

/*
 * The Socket.IO parser of the server (src/realtime/parser.ts): Socket.IO's own, with a
 * decoder that answers a malformed packet instead of closing the connection.
 */

const require = createRequire(import.meta.url);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** socket.io-parser as Socket.IO itself loads it. */
const socketIosParser = createRequire(require.resolve('socket.io'))('socket.io-parser') as typeof import('socket.io-parser');

function decoder() {
  const d = new tolerantParser.Decoder();
  const decoded: Packet[] = [];
  d.on('decoded', (p: Packet) => decoded.push(p));
  return { d, decoded };
}

describe('the Socket.IO parser', () => {
  it("is the socket.io-parser Socket.IO loads (its plain build, not the debug build Node's import gives)", () => {
    // Here (mocha under tsx) src/ is loaded as CommonJS, where an import is a require anyway: the server
    // runs as ES modules, so this is asked of a plain Node process that imports the module as one.
    const script = `
      import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
      const { tolerantParser } = await import('./src/realtime/parser.ts');
      const fromSocketIo = createRequire(createRequire(process.cwd() + '/').resolve('socket.io'))('socket.io-parser');
      console.log(JSON.stringify([tolerantParser.Encoder === fromSocketIo.Encoder, Object.getPrototypeOf(tolerantParser.Decoder) === fromSocketIo.Decoder]));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    expect(JSON.parse(out), 'the Encoder, and the Decoder the tolerant one extends').to.deep.equal([true, true]);
    expect(Object.getPrototypeOf(tolerantParser.Decoder)).to.equal(socketIosParser.Decoder);
  });

  it('decodes and encodes as Socket.IO does', () => {
    const { d, decoded } = decoder();
    d.add('2["typing",{"roomId":"general","typing":true}]');
    d.add('33["ok"]');
    expect(decoded).to.deep.equal([
      { type: 2, nsp: '/', data: ['typing', { roomId: 'general', typing: true }] },
      { type: 3, nsp: '/', id: 3, data: ['ok'] },
    ]);
    expect(new tolerantParser.Encoder().encode({ type: 2, nsp: '/', data: ['hello', { a: 1 }] })).to.deep.equal(['2["hello",{"a":1}]']);
  });

  it('turns a malformed binary packet that asked for an ack into MALFORMED_EVENT, drops one that did not, and goes on decoding', () => {
    const { d, decoded } = decoder();
    // A placeholder pointing past the one attachment sent: Socket.IO's decoder throws on it.
    d.add('51-7["message:send",{"_placeholder":true,"num":5}]');
    d.add(Buffer.from([1, 2, 3]));
    d.add('51-["typing",{"_placeholder":true,"num":9}]');
    d.add(Buffer.from([4]));
    d.add('2["typing",{"roomId":"r","typing":false}]');
    expect(decoded).to.deep.equal([
      { type: 2, nsp: '/', id: 7, data: [MALFORMED_EVENT] },
      { type: 2, nsp: '/', data: ['typing', { roomId: 'r', typing: false }] },
    ]);
  });
});
