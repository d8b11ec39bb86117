import { createServer } from 'node:net';

/** Asks the kernel for a free TCP port (bind to 0, read it back, release it) for servers that cannot listen on 0. */
export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = address !== null && typeof address !== 'string' ? address.port : undefined;
      server.close(() => (port === undefined ? reject(new Error('no free port read back')) : resolve(port)));
    });
  });
}
