import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peerOf } from './peer.js';

test('peerOf: the socket peer as audit events record it', () => {
  assert.deepEqual(peerOf({ remoteAddress: '10.1.2.3', remotePort: 51234 }), { ip: '10.1.2.3', port: 51234 });
  assert.deepEqual(peerOf({ remoteAddress: '::ffff:127.0.0.1', remotePort: 5 }), { ip: '127.0.0.1', port: 5 }, 'an IPv4 client on a dual-stack listener');
  assert.deepEqual(peerOf({ remoteAddress: '2001:db8::1', remotePort: 443 }), { ip: '2001:db8::1', port: 443 });
  assert.deepEqual(peerOf({ remoteAddress: '::ffff:abcd', remotePort: 1 }), { ip: '::ffff:abcd', port: 1 }, 'not an IPv4-mapped address');
  assert.deepEqual(peerOf({}), { ip: '', port: 0 }, 'a destroyed socket');
});
