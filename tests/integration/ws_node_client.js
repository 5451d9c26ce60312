// A Node.js `ws` client driven by test_compression.py: one connection, messages echoed back one
// at a time, results printed as one JSON line on stdout.
//
//   NODE_PATH=/usr/share/nodejs node ws_node_client.js '<spec as JSON>'
//
// spec = {
//   url: "ws://127.0.0.1:PORT/path",
//   perMessageDeflate: false | true | {...ws PerMessageDeflate options...},
//   messages: [{type: "text" | "binary", size: BYTES, random: bool}],
//   timeout_ms: 20000
// }
// Text and non-random binary payloads are JSON-like (compressible), exactly `size` bytes;
// random binary ones are crypto.randomBytes. Each message is sent, the next message received
// is compared with it (type and SHA-256), then the next one is sent.
//
// Output: {"header": <Sec-WebSocket-Extensions of the 101 or null>, "extensions": ws.extensions,
//          "params": <the negotiated permessage-deflate params or null>,
//          "results": [{"type", "size", "ok", "got_type", "got_size"}], "close": CODE,
//          "error": <message or null>}
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const spec = JSON.parse(process.argv[2]);
const out = { header: null, extensions: null, params: null, results: [], close: null, error: null };
let printed = false;

function finish(code) {
  if (printed) return;
  printed = true;
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
}

setTimeout(() => {
  out.error = out.error || `timeout after ${spec.timeout_ms || 20000} ms`;
  finish(2);
}, spec.timeout_ms || 20000);

// A small deterministic PRNG (mulberry32), so payloads vary but need no randomness source.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const TAGS = ['red', 'green', 'blue', 'admin', 'beta', 'ops', 'dev', 'qa', 'eu', 'us'];

function jsonLike(size, seed) {
  const rnd = prng(seed);
  const parts = [];
  let len = 1;
  parts.push('[');
  for (let i = 0; len < size; i++) {
    const rec = JSON.stringify({
      id: i,
      user: NAMES[Math.floor(rnd() * NAMES.length)] + Math.floor(rnd() * 1000),
      active: rnd() < 0.5,
      score: Math.floor(rnd() * 100000) / 100,
      tags: [TAGS[Math.floor(rnd() * TAGS.length)], TAGS[Math.floor(rnd() * TAGS.length)]],
    }) + ',';
    parts.push(rec);
    len += rec.length;
  }
  return Buffer.from(parts.join(''), 'ascii').subarray(0, size);
}

function payload(m, i) {
  if (m.type === 'binary' && m.random) return crypto.randomBytes(m.size);
  const buf = jsonLike(m.size, 1000 + i);
  return m.type === 'text' ? buf.toString('ascii') : buf;
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

const ws = new WebSocket(spec.url, {
  perMessageDeflate: spec.perMessageDeflate,
  maxPayload: 64 * 1024 * 1024,
  handshakeTimeout: 10000,
});

const inbox = [];
let waiter = null;
ws.on('message', (data, isBinary) => {
  inbox.push({ data, isBinary });
  if (waiter) {
    const w = waiter;
    waiter = null;
    w();
  }
});

function nextMessage() {
  if (inbox.length) return Promise.resolve(inbox.shift());
  return new Promise((resolve) => {
    waiter = () => resolve(inbox.shift());
  });
}

ws.on('upgrade', (res) => {
  out.header = res.headers['sec-websocket-extensions'] === undefined
    ? null : res.headers['sec-websocket-extensions'];
});

ws.on('open', async () => {
  out.extensions = ws.extensions;
  const pmd = ws._extensions && ws._extensions['permessage-deflate'];
  out.params = pmd ? pmd.params : null;
  try {
    for (let i = 0; i < spec.messages.length; i++) {
      const m = spec.messages[i];
      const p = payload(m, i);
      ws.send(p, { binary: m.type === 'binary' });
      const got = await nextMessage();
      const gotBytes = Buffer.isBuffer(got.data) ? got.data : Buffer.concat(got.data);
      const sent = Buffer.isBuffer(p) ? p : Buffer.from(p, 'ascii');
      out.results.push({
        type: m.type,
        size: m.size,
        got_type: got.isBinary ? 'binary' : 'text',
        got_size: gotBytes.length,
        ok: (got.isBinary === (m.type === 'binary')) && sha(gotBytes) === sha(sent),
      });
    }
    ws.close(1000, 'done');
  } catch (e) {
    out.error = String(e && e.stack || e);
    finish(1);
  }
});

ws.on('close', (code) => {
  out.close = code;
  finish(0);
});

ws.on('error', (e) => {
  out.error = String(e && e.message || e);
  finish(1);
});
