import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP listener started on first use. */
export class Listener {
  readonly #listener: (req: IncomingMessage, res: ServerResponse) => void;
  #server: Server | undefined;
  #started: Promise<string> | undefined;

  constructor(listener: (req: IncomingMessage, res: ServerResponse) => void) {
    this.#listener = listener;
  }

  /** Starts listening on 127.0.0.1 and an ephemeral port (once); resolves `http://127.0.0.1:<port>`. */
  start(): Promise<string> {
    this.#started ??= new Promise<string>((resolve, reject) => {
      const server = createServer(this.#listener);
      this.#server = server;
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      });
    });
    return this.#started;
  }

  /** Whether it was started. */
  get started(): boolean {
    return this.#started !== undefined;
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#started = undefined;
    if (!server?.listening) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
