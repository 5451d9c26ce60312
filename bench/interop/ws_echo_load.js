// Echo load for one WebSocket URL: C connections each keep W messages of a 16 KiB JSON-like
// payload in flight for D seconds; prints one JSON line (messages/s, MB/s of payload each way).
// Usage: node ws_echo_load.js URL CONNECTIONS WINDOW SECONDS DEFLATE(0|1)
// The client is Node's `ws` (Debian node-ws; NODE_PATH=/usr/share/nodejs).
'use strict';
const WebSocket = require('ws');

const [url, conns, window, seconds, deflate] = process.argv.slice(2);
const C = Number(conns), W = Number(window), D = Number(seconds) * 1000;

function payload(size) {
  const items = [];
  let s = '';
  for (let i = 0; s.length < size; i++) {
    items.push({id: i, user: 'user' + (i % 97), text: 'message number ' + i, ok: i % 3 === 0});
    s = JSON.stringify(items);
  }
  return s.slice(0, size);
}
const msg = payload(16 * 1024);

let received = 0, errors = 0, open = 0, started = 0, done = false;
const sockets = [];
for (let c = 0; c < C; c++) {
  const ws = new WebSocket(url, {perMessageDeflate: deflate === '1'});
  sockets.push(ws);
  ws.on('open', () => {
    if (++open === C) {
      started = Date.now();
      for (const s of sockets) for (let i = 0; i < W; i++) s.send(msg);
      setTimeout(finish, D);
    }
  });
  ws.on('message', (data) => {
    if (done) return;
    if (data.length !== msg.length) errors++;
    received++;
    ws.send(msg);
  });
  ws.on('error', () => errors++);
}
function finish() {
  done = true;
  const secs = (Date.now() - started) / 1000;
  const out = {
    messages_per_s: Math.round(received / secs),
    payload_mb_per_s: +(received * msg.length / secs / 1e6).toFixed(1),
    errors,
  };
  console.log(JSON.stringify(out));
  for (const s of sockets) s.terminate();
  process.exit(0);
}
