// A seed-style web dashboard: socket.io-client 4.x connected to a Socket.IO server.
// Usage: node dashboard.js <url> <token> <path> <seconds> [callId...]
// With call ids it joins those rooms (`call:join` and `transcript:subscribe`) first.
// Prints one JSON line per received event: {"event": name, "data": payload}; then
// {"done": true} after <seconds>; {"connect_error": message} if refused.
const { io } = require("socket.io-client");

const [url, token, path, seconds, ...rooms] = process.argv.slice(2);
const socket = io(url, { path, auth: { token }, reconnection: false });
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

socket.on("connect", () => {
  for (const id of rooms) {
    socket.emit("call:join", id);
    socket.emit("transcript:subscribe", { callId: id });
  }
  out({ connected: true, transport: socket.io.engine.transport.name });
});
socket.on("connect_error", (err) => {
  out({ connect_error: err.message });
  process.exit(0);
});
for (const name of ["call:updated", "transcript:update"]) {
  socket.on(name, (data) => out({ event: name, data }));
}
setTimeout(() => {
  out({ done: true });
  socket.close();
  process.exit(0);
}, Number(seconds) * 1000);
