// The `web` process: an HTTP server on $PORT with no npm dependencies.
// GET /health -> 200 "ok"; GET / -> the build artifact written by build.js, plus which
// instance answered; GET /slow?ms=N answers after N ms (at most 10 s). Any other request
// (POST included: its body is read in full first, its length is in the answer) takes
// REQUEST_DELAY_MS (default 0) to answer, /health none. GET /grow?mb=N keeps N MB more
// (at most 1024), written so that the memory is really in use: a leak on demand, to see
// `memory_max` at work. It starts listening BOOT_DELAY_MS after it starts. On SIGTERM it
// stops accepting, finishes requests in flight (closing keep-alive connections as they go
// idle) and exits 0.
"use strict";
const http = require("http");
const fs = require("fs");
const path = require("path");

const port = Number(process.env.PORT || 5000);
const bootDelayMs = Number(process.env.BOOT_DELAY_MS || 0);
const requestDelayMs = Number(process.env.REQUEST_DELAY_MS || 0);
const artifact = path.join(__dirname, "build", "index.txt");
const body = fs.readFileSync(artifact, "utf8"); // no artifact: refuse to boot
let stopping = false;
const kept = []; // what GET /grow keeps

const server = http.createServer((req, res) => {
  if (stopping) res.setHeader("Connection", "close");
  if (req.url === "/health") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok\n");
    return;
  }
  const grow = /^\/grow\?mb=(\d+)$/.exec(req.url || "");
  if (grow) {
    const mb = Math.min(Number(grow[1]), 1024);
    for (let i = 0; i < mb; i++) kept.push(Buffer.alloc(1 << 20, 1));
    const text = `pid=${process.pid} keeps ${kept.length} MB\n`;
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const slow = /^\/slow(?:\?ms=(\d+))?$/.exec(req.url || "");
  const delay = slow ? Math.min(Number(slow[1] || 500), 10000) : requestDelayMs;
  let received = 0;
  req.on("data", (chunk) => {
    received += chunk.length;
  });
  req.on("end", () => {
    const got = req.method === "POST" ? ` received=${received}` : "";
    const text = `${body.trim()} pid=${process.pid} port=${port}${got}\n`;
    setTimeout(() => {
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
    }, delay);
  });
});
server.keepAliveTimeout = 5000;

function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`web ${port}: ${signal}, draining`);
  // close() stops accepting and waits for open connections; idle keep-alive sockets are
  // closed now, busy ones after their response (Connection: close above).
  server.close(() => {
    console.log(`web ${port}: drained, exiting`);
    process.exit(0);
  });
  server.closeIdleConnections();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

setTimeout(() => {
  server.listen(port, () => console.log(`web listening on ${port}`));
}, bootDelayMs);
