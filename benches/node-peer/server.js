// The benchmark's Node peer: what the seed backend does for a transcript line, and nothing
// more (no persistence). POST /emit with {"callId": ..., "entry": {...}} broadcasts
// `transcript:update` to the call's room; clients join with `call:join` (string or
// {callId}) or `transcript:subscribe`. GET /rss answers the process's resident set size.
//
// Usage: node server.js [port]   (0 or absent: any free port)
// Prints {"listening": <port>, "pid": <pid>} once ready.
const http = require("http");
const { Server } = require("socket.io");

const server = http.createServer((req, res) => {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    if (req.method === "POST" && req.url === "/emit") {
      let body;
      try { body = JSON.parse(raw); } catch {
        res.writeHead(400, { "content-type": "application/json" });
        return res.end('{"error":"not JSON"}');
      }
      io.to(`call:${body.callId}`).emit("transcript:update", { callId: body.callId, entry: body.entry });
      res.writeHead(200, { "content-type": "application/json" });
      return res.end('{"success":true}');
    }
    if (req.method === "GET" && req.url === "/rss") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ rss: process.memoryUsage().rss }));
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"error":"Not found"}');
  });
});

const io = new Server(server, { cors: { origin: "*" } });
io.on("connection", (socket) => {
  const join = (arg, ack) => {
    const id = typeof arg === "string" ? arg : arg && arg.callId;
    if (id) socket.join(`call:${id}`);
    if (typeof ack === "function") ack({ joined: id });
  };
  socket.on("call:join", join);
  socket.on("transcript:subscribe", join);
});

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port, pid: process.pid }) + "\n");
});
