// The `worker` process: does a unit of "work" every few seconds; exits 0 on SIGTERM after
// finishing the unit in flight.
"use strict";
let stopping = false;
let busy = false;
let done = 0;

function tick() {
  if (stopping) return;
  busy = true;
  setTimeout(() => {
    done += 1;
    busy = false;
    if (stopping) finish();
  }, 200);
}

function finish() {
  console.log(`worker: stopped after ${done} jobs`);
  process.exit(0);
}

process.on("SIGTERM", () => {
  stopping = true;
  if (!busy) finish();
});
console.log("worker started");
setInterval(tick, 2000);
tick();
