import net from 'node:net';

/** Asks the OS for a free TCP port on loopback (for tests and port-0 style configs). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Error for a port that is taken, naming the port and how to change it. */
export class PortInUseError extends Error {
  constructor(
    readonly what: string,
    readonly port: number,
    readonly howToChange: string,
    options?: { cause?: unknown },
  ) {
    super(`${what}: port ${port} is already in use; choose another with ${howToChange}`, options);
    this.name = 'PortInUseError';
  }
}

export function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}
