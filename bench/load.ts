/**
 * The two clients of the benchmarks: autocannon for throughput (as many requests as the
 * server takes over N connections), and a small closed-loop client for latency, which times
 * each request with `performance.now()` (autocannon's histogram keeps whole milliseconds,
 * too coarse for sub-millisecond reveals).
 */
import { Agent, request } from "node:http";
import autocannon from "autocannon";

/** One request to send again and again. */
export interface Target {
  method?: "GET" | "POST" | "PUT";
  path: string;
  headers?: Record<string, string>;
  /** JSON-encoded by the caller. */
  body?: string;
}

/** What a throughput run measured. */
export interface Throughput {
  /** Successful (2xx) responses per second. */
  rps: number;
  /** Latency percentiles in milliseconds (whole milliseconds: autocannon's resolution). */
  p50: number;
  p99: number;
  /** Responses that were not 2xx, plus connection errors and timeouts. */
  failures: number;
  /** 2xx responses. */
  ok: number;
}

/**
 * Drives `target` with `connections` concurrent keep-alive connections for `seconds`. A run in
 * which not one request was answered measured nothing (on a loaded machine the first answers
 * can outlast a toy-sized window: requests still in flight when it closes are not counted), so
 * it is run once more for three times as long; a second empty run is returned as it is.
 */
export async function throughput(
  baseUrl: string,
  target: Target,
  options: { connections: number; seconds: number },
): Promise<Throughput> {
  const first = await throughputOnce(baseUrl, target, options.connections, options.seconds);
  if (first.ok + first.failures > 0) return first;
  return throughputOnce(baseUrl, target, options.connections, options.seconds * 3);
}

async function throughputOnce(
  baseUrl: string,
  target: Target,
  connections: number,
  seconds: number,
): Promise<Throughput> {
  const result = await autocannon({
    url: `${baseUrl}${target.path}`,
    method: target.method ?? "GET",
    headers: {
      ...(target.body === undefined ? {} : { "content-type": "application/json" }),
      ...target.headers,
    },
    ...(target.body === undefined ? {} : { body: target.body }),
    connections,
    duration: seconds,
    timeout: 30,
  });
  const ok = result["2xx"];
  return {
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    ok,
  };
}

/** What a latency run measured, in milliseconds. */
export interface Latency {
  p50: number;
  p99: number;
  mean: number;
  /** Requests timed (all answered 2xx; any other answer fails the run). */
  count: number;
}

/**
 * Sends `target` over `connections` keep-alive connections, each waiting for its answer
 * before the next request, for `seconds`, and returns the latency distribution. Throws on
 * the first answer that is not 2xx: a latency of errors would mean nothing.
 */
export async function latency(
  baseUrl: string,
  target: Target,
  options: { connections: number; seconds: number },
): Promise<Latency> {
  const run = await closedLoop(baseUrl, () => target, options);
  if (run.failures.length > 0)
    throw new Error(`${target.method ?? "GET"} ${target.path} answered ${run.failures[0]}`);
  return summarize(run.samples);
}

/**
 * Sends `target` at a fixed `rate` per second for `seconds`, each request at its scheduled
 * moment whether or not earlier ones have been answered (an open loop, like a monitor or a
 * steady client), and returns the latency distribution measured from each request's
 * scheduled moment, so a stalled server is charged for the requests it held back too. Unlike
 * a closed loop, it asks the same of the server with and without other load, and takes
 * little CPU itself. Throws if any answer is not 2xx.
 */
export async function latencyAtRate(
  baseUrl: string,
  target: Target,
  options: { rate: number; seconds: number },
): Promise<Latency> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true });
  const interval = 1000 / options.rate;
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const started = performance.now();
  const answers: Array<Promise<number>> = [];
  try {
    for (let i = 0; i < total; i++) {
      const scheduled = started + i * interval;
      const wait = scheduled - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      answers.push(
        new Promise<number>((resolve, reject) => {
          const req = request(
            {
              host: url.hostname,
              port: url.port,
              method: target.method ?? "GET",
              path: target.path,
              agent,
              headers: target.headers,
            },
            (res) => {
              res.resume();
              res.on("end", () => {
                const status = res.statusCode ?? 0;
                if (status < 200 || status > 299)
                  reject(new Error(`${target.method ?? "GET"} ${target.path} answered ${status}`));
                else resolve(performance.now() - scheduled);
              });
            },
          );
          req.on("error", reject);
          req.end();
        }),
      );
    }
    return summarize(await Promise.all(answers));
  } finally {
    agent.destroy();
  }
}

/** What {@link closedLoop} saw. */
export interface ClosedLoopRun {
  /** Milliseconds each 2xx answer took. */
  samples: number[];
  /** The status of every answer that was not 2xx. */
  failures: number[];
  seconds: number;
}

/**
 * Connection `i` of `connections` sends `targetOf(i)` again and again, each request after the
 * previous answer, until `seconds` have passed. Unlike autocannon, each connection can have its
 * own request (the login flood signs in as a different account on each).
 */
export async function closedLoop(
  baseUrl: string,
  targetOf: (connection: number) => Target,
  options: { connections: number; seconds: number },
): Promise<ClosedLoopRun> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const samples: number[] = [];
  const failures: number[] = [];
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const once = (target: Target) =>
    new Promise<void>((resolve, reject) => {
      const sent = performance.now();
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: target.method ?? "GET",
          path: target.path,
          agent,
          headers: {
            ...(target.body === undefined ? {} : { "content-type": "application/json" }),
            ...target.headers,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) failures.push(status);
            else samples.push(performance.now() - sent);
            resolve();
          });
        },
      );
      req.on("error", reject);
      req.end(target.body);
    });
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async (_, i) => {
        const target = targetOf(i);
        while (performance.now() < deadline) await once(target);
      }),
    );
  } finally {
    agent.destroy();
  }
  return { samples, failures, seconds: (performance.now() - started) / 1000 };
}

/** Percentiles (nearest rank) and mean of `samples`, in their unit. */
export function summarize(samples: readonly number[]): Latency {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return {
    p50: at(0.5) ?? 0,
    p99: at(0.99) ?? 0,
    mean: sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
    count: sorted.length,
  };
}
