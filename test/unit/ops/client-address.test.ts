import { expect } from 'chai';
import express from 'express';
import { clientAddress, type TrustProxy } from '../../../src/ops/audit.js';

/** The trust function Express compiles from a TRUST_PROXY value, as app.ts reads it. */
const trustOf = (value: unknown) => {
  const app = express();
  app.set('trust proxy', value);
  return app.get('trust proxy fn') as TrustProxy;
};
const from = (peer: string | undefined, forwarded?: string) => ({
  headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded },
  socket: { remoteAddress: peer },
});

describe('ops/audit clientAddress: a socket request’s address, as Express’s req.ip', () => {
  it('is the peer address when no proxy is trusted, whatever X-Forwarded-For claims', () => {
    expect(clientAddress(from('203.0.113.7', '198.51.100.1'), trustOf(false))).to.equal('203.0.113.7');
  });

  it('walks X-Forwarded-For from the nearest hop while the hop is trusted', () => {
    const loopback = trustOf('loopback');
    expect(clientAddress(from('127.0.0.1', '198.51.100.1'), loopback)).to.equal('198.51.100.1');
    // A forged entry beyond the first untrusted hop is ignored.
    expect(clientAddress(from('127.0.0.1', '10.9.9.9, 198.51.100.1'), loopback)).to.equal('198.51.100.1');
    expect(clientAddress(from('127.0.0.1', '10.9.9.9, 198.51.100.1'), trustOf(2))).to.equal('10.9.9.9');
    // An untrusted peer is the client, even with the header.
    expect(clientAddress(from('203.0.113.7', '198.51.100.1'), loopback)).to.equal('203.0.113.7');
  });

  it('is undefined for a request whose connection is gone', () => {
    expect(clientAddress(from(undefined), trustOf('loopback'))).to.equal(undefined);
  });
});
