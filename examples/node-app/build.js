// The build hook (`node build.js`): writes build/index.txt, which the web process serves.
// It records the commit being built when git is there to say.
"use strict";
const fs = require("fs");
const path = require("path");
const { execSync } = require("child_process");

let revision = "unknown";
try {
  revision = fs.readFileSync(path.join(__dirname, "REVISION"), "utf8").trim().slice(0, 7);
} catch (_) {
  try {
    revision = execSync("git rev-parse --short HEAD", { cwd: __dirname, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch (_) {
    // not a checkout: keep "unknown"
  }
}
const out = path.join(__dirname, "build");
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "index.txt"), `hello from node-app revision=${revision}\n`);
console.log(`built build/index.txt (revision ${revision})`);
