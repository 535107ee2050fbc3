import type { Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

/**
 * A TCP forwarder on a loopback port in front of a real server (PostgreSQL, Redis), which a
 * test can cut and restore to simulate the backing service going away and coming back.
 */
export interface TcpProxy {
  port: number;
  /** Closes the listener and drops every open connection: the service is "down". */
  cut(): Promise<void>;
  /** Listens again on the same port: the service is "back". */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;

  const listen = async (): Promise<void> => {
    const next = createServer((client) => {
      const upstream = connect(targetPort, targetHost);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => resolve());
    });
    const address = next.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    port = address.port;
    server = next;
  };

  const cut = async (): Promise<void> => {
    const current = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    if (current !== null) await new Promise<void>((resolve) => current.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    cut,
    restore: listen,
    close: cut,
  };
}
