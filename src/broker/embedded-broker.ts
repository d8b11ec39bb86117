import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';

/** An MQTT 3.1.1 broker inside the process (aedes, in-memory), for `edgeke demo` and tests. */
export interface EmbeddedBrokerOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port?: number;
  host?: string;
  logger?: Logger;
}

export interface EmbeddedBroker {
  /** mqtt://host:port clients connect to (MQTT 3.1.1: protocolVersion 4). */
  readonly url: string;
  readonly port: number;
  stop: () => Promise<void>;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  // No Nagle: a frame written behind an unacknowledged one would wait for the client's delayed ACK (up to 40 ms).
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('embedded broker has no TCP address');
  const url = `mqtt://${host}:${address.port}`;
  options.logger?.info({ url }, 'embedded MQTT broker listening');

  let stopped: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    stop: () => {
      stopped ??= (async () => {
        // Clients reconnect forever; cut their sockets so server.close() does not wait for them.
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        options.logger?.info({ url }, 'embedded MQTT broker stopped');
      })();
      return stopped;
    },
  };
}
