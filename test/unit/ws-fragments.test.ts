import { expect } from 'chai';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { engineReceiver, releaseMessageFrames } from '../../src/realtime/ws-fragments.js';

/*
 * src/realtime/ws-fragments.ts on real ws connections (the ws engine.io loads): once a
 * message is out, the array that held its frames holds nothing, so that no array V8
 * put in the old generation keeps a message's frames alive after it. The wrapper goes on
 * a subclass of ws's Receiver, given to this test's one server-side connection, so that
 * the server's own wiring of it stays for test/integration/ws-fragments.test.ts to prove.
 */

interface WsSocket {
  send(data: string | Buffer, opts?: { fin?: boolean; binary?: boolean }, cb?: (err?: Error) => void): void;
  on(event: 'message', fn: (data: unknown, isBinary: boolean) => void): void;
  terminate(): void;
  binaryType: string;
  _receiver: { _fragments: unknown[] };
}
interface WsModule {
  WebSocket: new (url: string) => WsSocket & { once(event: string, fn: () => void): void };
  WebSocketServer: new (opts: { port: number; host: string }) => {
    address(): AddressInfo;
    on(event: 'connection', fn: (ws: WsSocket) => void): void;
    close(cb: () => void): void;
  };
}
const ws = createRequire(createRequire(import.meta.url).resolve('engine.io'))('ws') as WsModule;

describe('ws message frames (ws-fragments.ts)', () => {
  let server: InstanceType<WsModule['WebSocketServer']>;
  let client: InstanceType<WsModule['WebSocket']>;
  let serverSide: WsSocket;
  const received: Array<{ data: unknown; isBinary: boolean }> = [];
  let arrived: () => void = () => undefined;
  const nextMessage = () => new Promise<void>((resolve) => (arrived = resolve));
  /** Resolves once `done()` holds (checked every few ms, for at most 5 s). */
  const until = async (done: () => boolean) => {
    for (const deadline = Date.now() + 5000; !done(); ) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  const Receiver = engineReceiver();
  /** ws's Receiver, for this test only. */
  const Local = class extends (Receiver as unknown as new () => object) {} as unknown as Parameters<typeof releaseMessageFrames>[0];

  before(async () => {
    expect(releaseMessageFrames(Local)).to.equal(true);
    server = new ws.WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server as unknown as NodeJS.EventEmitter, 'listening');
    const connected = new Promise<WsSocket>((resolve) => server.on('connection', resolve));
    client = new ws.WebSocket(`ws://127.0.0.1:${server.address().port}`);
    await once(client as unknown as NodeJS.EventEmitter, 'open');
    serverSide = await connected;
    Object.setPrototypeOf(serverSide._receiver, Local.prototype);
    serverSide.on('message', (data, isBinary) => {
      received.push({ data, isBinary });
      arrived();
    });
  });
  after(async () => {
    client?.terminate();
    serverSide?.terminate();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('empties the array of a message that was emitted; the message arrives whole', async () => {
    const frames = serverSide._receiver._fragments;
    const got = nextMessage();
    client.send('["typing",{"roomId":"lobby","typing":true}]');
    await got;
    expect(String(received.at(-1)!.data)).to.equal('["typing",{"roomId":"lobby","typing":true}]');
    expect(frames, 'the finished message’s frames').to.have.length(0);
    expect(serverSide._receiver._fragments).to.not.equal(frames);
  });

  it('keeps the frames of a message still arriving, then empties them once it is whole', async () => {
    const frames = serverSide._receiver._fragments;
    const before = received.length;
    const got = nextMessage();
    client.send('["message:send",', { fin: false });
    client.send('{"roomId":"lobby",', { fin: false });
    await until(() => frames.length === 2);
    expect(received, 'the message is not whole yet').to.have.length(before);
    client.send('"text":"hi"}]', { fin: true });
    await got;
    expect(String(received.at(-1)!.data)).to.equal('["message:send",{"roomId":"lobby","text":"hi"}]');
    expect(frames).to.have.length(0);
  });

  it('empties the frames of a binary message too, the Buffer handed on intact', async () => {
    const frames = serverSide._receiver._fragments;
    const got = nextMessage();
    client.send(Buffer.from([1, 2, 3]), { binary: true, fin: false });
    client.send(Buffer.from([4, 5]), { binary: true, fin: true });
    await got;
    const last = received.at(-1)!;
    expect(last.isBinary).to.equal(true);
    expect([...(last.data as Buffer)]).to.deep.equal([1, 2, 3, 4, 5]);
    expect(frames).to.have.length(0);
  });

  it("leaves the array alone when it is the message itself (binaryType 'fragments')", async () => {
    serverSide.binaryType = 'fragments';
    try {
      const got = nextMessage();
      client.send(Buffer.from([7]), { binary: true, fin: false });
      client.send(Buffer.from([8, 9]), { binary: true, fin: true });
      await got;
      const data = received.at(-1)!.data as Buffer[];
      expect(data.map((b) => [...b])).to.deep.equal([[7], [8, 9]]);
    } finally {
      serverSide.binaryType = 'nodebuffer';
    }
  });

  it('wraps once however often it is called, and leaves a Receiver it does not know unchanged', () => {
    const wrapped = Local.prototype.dataMessage;
    expect(releaseMessageFrames(Local)).to.equal(true);
    expect(Local.prototype.dataMessage).to.equal(wrapped);
    const Unknown = { prototype: {} } as unknown as Parameters<typeof releaseMessageFrames>[0];
    expect(releaseMessageFrames(Unknown)).to.equal(false);
    expect(Object.keys(Unknown.prototype)).to.deep.equal([]);
  });
});
