// Finds a free TCP port on the loopback interface for a sandbox or test server to listen on.
import { createServer } from 'node:net';

/**
 * Asks the kernel for a free port on 127.0.0.1 and releases it. Another process could take it
 * before the caller listens on it; servers that can listen on port 0 themselves should do that.
 * @returns a port number in the ephemeral range.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error('The kernel gave no free loopback port.'))));
    });
  });
}
