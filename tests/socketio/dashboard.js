// A seed-style web dashboard: socket.io-client 4.x connected to a Socket.IO server.
// Usage: node dashboard.js <url> <token> <path> <seconds> [callId...]
// With call ids it joins those rooms (`call:join` and `transcript:subscribe`) and records
// only what arrives once the server acknowledged the joins (before that, the feed is the
// whole org's).
// Prints one JSON line per received event: {"event": name, "data": payload}; then
// {"done": true} after <seconds>; {"connect_error": message} if refused;
// {"disconnect": reason} if the server ends the session first.
const { io } = require("socket.io-client");

const [url, token, path, seconds, ...rooms] = process.argv.slice(2);
const socket = io(url, { path, auth: { token }, reconnection: false });
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

let joined = rooms.length === 0;
socket.on("connect", async () => {
  out({ connected: true, transport: socket.io.engine.transport.name });
  const acks = [];
  for (const id of rooms) {
    acks.push(await socket.emitWithAck("call:join", id));
    acks.push(await socket.emitWithAck("transcript:subscribe", { callId: id }));
  }
  if (rooms.length) out({ joined: acks });
  joined = true;
});
socket.on("connect_error", (err) => {
  out({ connect_error: err.message });
  process.exit(0);
});
socket.on("disconnect", (reason) => {
  out({ disconnect: reason });
  process.exit(0);
});
for (const name of ["call:updated", "transcript:update"]) {
  socket.on(name, (data) => joined && out({ event: name, data }));
}
setTimeout(() => {
  out({ done: true });
  socket.close();
  process.exit(0);
}, Number(seconds) * 1000);
