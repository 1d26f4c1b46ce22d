// Messages between the PGlite sandbox child process (sandbox-server) and its parent, over the fork IPC channel.

/** How the parent starts the child: passed as JSON in `process.argv[2]`. */
export interface SandboxServerArgs {
  /** Data directory (kept); undefined for an in-memory database. */
  dir?: string;
  /** Port to listen on at 127.0.0.1; 0 for any free port. */
  port: number;
}

/** Child → parent. */
export type SandboxChildMessage =
  | { type: 'ready'; port: number; version: string }
  | { type: 'error'; message: string; code?: string };

/** Parent → child. */
export type SandboxParentMessage = { type: 'stop' };

/** The port asked for is taken (`listen` failed with this code): the parent retries with port 0. */
export const PORT_IN_USE = 'EADDRINUSE';
