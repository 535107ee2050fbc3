#!/usr/bin/env node
// Benchmarks arrive with the benchmark issue; until then `npm run bench` says so plainly.
console.log("no benchmarks yet");
