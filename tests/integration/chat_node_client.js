// A Node.js `ws` client for test_chat.py: logs in to a chat route the way a browser does
// (subprotocols "wsgate.chat" and "bearer.<token>"), joins a room, receives messages from
// another client and sends its own, printing JSON lines on stdout.
//
//   NODE_PATH=/usr/share/nodejs node chat_node_client.js '<spec as JSON>'
//
// spec = { url, token, room, expect: N, send: ["text", ...], timeout_ms }
//
// Lines printed: {"event":"ready"} once the room is joined; then, after `expect` messages from
// others in the room and an ack for each sent text (local_id "n0", "n1", ...), and the close:
// {"event":"done","protocol":…,"welcome":…,"received":[…],"acks":[…],"close":CODE,"error":…}
'use strict';

const WebSocket = require('ws');

const spec = JSON.parse(process.argv[2]);
const out = {
  event: 'done', protocol: null, welcome: null, received: [], acks: [], close: null, error: null,
};
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

const ws = new WebSocket(spec.url, ['wsgate.chat', `bearer.${spec.token}`], {
  handshakeTimeout: 10000,
});

const inbox = [];
let waiter = null;

ws.on('message', (data, isBinary) => {
  if (isBinary) {
    out.error = 'binary message from the server';
    finish(1);
    return;
  }
  let msg;
  try {
    msg = JSON.parse(data.toString('utf8'));
  } catch (e) {
    out.error = `not JSON: ${data}`;
    finish(1);
    return;
  }
  inbox.push(msg);
  if (waiter) {
    const w = waiter;
    waiter = null;
    w();
  }
});

// The next message with msg.type === type (others are kept in order).
async function next(type, pred) {
  for (;;) {
    const i = inbox.findIndex((m) => m.type === type && (!pred || pred(m)));
    if (i >= 0) return inbox.splice(i, 1)[0];
    await new Promise((resolve) => { waiter = resolve; });
  }
}

ws.on('open', async () => {
  out.protocol = ws.protocol;
  try {
    out.welcome = await next('welcome');
    ws.send(JSON.stringify({ type: 'join', channel: spec.room }));
    await next('joined', (m) => m.channel === spec.room);
    process.stdout.write(JSON.stringify({ event: 'ready' }) + '\n');
    while (out.received.length < spec.expect) {
      const m = await next('message', (x) => x.channel === spec.room);
      out.received.push(m);
    }
    for (let i = 0; i < spec.send.length; i++) {
      ws.send(JSON.stringify({
        type: 'say', channel: spec.room, text: spec.send[i], local_id: `n${i}`,
      }));
      out.acks.push(await next('ack'));
    }
    ws.close(1000, 'done');
  } catch (e) {
    out.error = String((e && e.stack) || e);
    finish(1);
  }
});

ws.on('close', (code) => {
  out.close = code;
  finish(0);
});

ws.on('error', (e) => {
  out.error = String((e && e.message) || e);
  finish(1);
});
