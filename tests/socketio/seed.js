// A stand-in for the seed backend: socket.io 4.x emitting `call:updated` to everyone and
// `transcript:update` to each call's room (joined with `call:join` / `transcript:subscribe`),
// plus its REST paths under /api/calls. State lives in a JSON file so a restarted server
// keeps its calls and transcripts; every REST request it receives is appended to a record
// file. Test hooks under /api/test/ add calls and transcript lines.
//
// POST /api/test/drop cuts the clients' transports and says a line while they are away.
//
// Usage: node seed.js <port|0> <state.json> <token> <received.jsonl>
// Prints {"listening": <port>} once ready.
const http = require("http");
const fs = require("fs");
const { Server } = require("socket.io");

const [portArg, stateFile, token, recordFile] = process.argv.slice(2);
const now = () => new Date().toISOString();

let state = { calls: {}, transcripts: {}, nextLine: 1 };
if (fs.existsSync(stateFile)) state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
const save = () => fs.writeFileSync(stateFile, JSON.stringify(state));

const json = (res, code, body) => {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const server = http.createServer((req, res) => {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    let body = null;
    try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
    const path = req.url.split("?")[0];
    fs.appendFileSync(recordFile, JSON.stringify({
      method: req.method, path, body, authorization: req.headers.authorization || null,
    }) + "\n");
    if (path.startsWith("/api/test/")) return testHook(path, body, res);
    if (req.headers.authorization !== `Bearer ${token}`) {
      return json(res, 401, { error: "Unauthorized", message: "invalid token" });
    }
    let m;
    if (req.method === "GET" && path === "/api/calls/active") {
      return json(res, 200, Object.values(state.calls).filter((c) => c.status !== "ended"));
    }
    if (req.method === "GET" && (m = path.match(/^\/api\/calls\/([^/]+)\/transcript$/))) {
      return json(res, 200, state.transcripts[decodeURIComponent(m[1])] || []);
    }
    if ((m = path.match(/^\/api\/calls\/([^/]+)\/(takeover|pause-ai)$/))) {
      const call = state.calls[decodeURIComponent(m[1])];
      if (!call) return json(res, 404, { error: "Not found", message: "call not found" });
      if (m[2] === "takeover" && req.method === "POST") {
        Object.assign(call, { status: "taken-over", isAiPaused: true, takenOverBy: "supervisor",
          takeoverReason: body && body.reason, takeoverNotes: body && body.notes });
      } else if (m[2] === "pause-ai" && req.method === "POST") {
        Object.assign(call, { status: "ai-paused", isAiPaused: true });
      } else if (m[2] === "pause-ai" && req.method === "DELETE") {
        Object.assign(call, { status: "in-progress", isAiPaused: false });
      } else {
        return json(res, 405, { error: "Method not allowed" });
      }
      call.updatedAt = now();
      save();
      io.emit("call:updated", call);
      return json(res, 200, { success: true, call });
    }
    json(res, 404, { error: "Not found" });
  });
});

function testHook(path, body, res) {
  if (path === "/api/test/call") {
    const call = { id: body.id, status: "in-progress", direction: "inbound",
      phoneNumber: body.phoneNumber, leadName: body.leadName, isAiPaused: false,
      startedAt: now(), createdAt: now(), updatedAt: now() };
    state.calls[call.id] = call;
    state.transcripts[call.id] = state.transcripts[call.id] || [];
    save();
    io.emit("call:updated", call);
    return json(res, 200, call);
  }
  if (path === "/api/test/drop") {
    // Cut every client's transport (a network blip), then say a line while they are away:
    // Socket.IO connection state recovery must hand it over when they come back.
    for (const s of io.of("/").sockets.values()) s.conn.close();
    body.callId = body.callId || "";
  }
  if (path === "/api/test/line" || path === "/api/test/drop") {
    const entry = { id: `line-${state.nextLine++}`, speaker: body.speaker, text: body.text,
      timestamp: now() };
    state.transcripts[body.callId].push(entry);
    save();
    io.to(`call:${body.callId}`).emit("transcript:update", { callId: body.callId, entry });
    return json(res, 200, entry);
  }
  json(res, 404, { error: "Not found" });
}

const io = new Server(server, {
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
  pingInterval: 2000,
  pingTimeout: 2000,
});
io.use((socket, next) => {
  const given = socket.handshake.auth.token
    || (socket.handshake.headers.authorization || "").replace(/^Bearer /, "");
  if (given !== token) return next(new Error("invalid token"));
  next();
});
io.on("connection", (socket) => {
  fs.appendFileSync(recordFile, JSON.stringify({
    method: "CONNECT", path: "/socket.io/", recovered: socket.recovered,
  }) + "\n");
  const join = (arg) => {
    const id = typeof arg === "string" ? arg : arg && arg.callId;
    if (id) socket.join(`call:${id}`);
  };
  socket.on("call:join", join);
  socket.on("transcript:subscribe", join);
});

server.listen(Number(portArg), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + "\n");
});
