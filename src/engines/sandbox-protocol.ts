// Messages between the PGlite sandbox child process (sandbox-server) and its parent, over the fork IPC channel.

/** How the parent starts the child: passed as JSON in `process.argv[2]`. */
export interface SandboxServerArgs {
  /** Data directory; a missing or empty one is filled from `template` (or by initdb). */
  dir: string;
  /** Port to listen on at 127.0.0.1; 0 for any free port. */
  port: number;
  /**
   * A cleanly closed, freshly initialised data directory to copy into a new `dir`, built here on
   * first use. Copying it takes about 0.1 s where PGlite's initdb takes about 2 s.
   */
  template?: string;
  /** A folder the child deletes when it shuts down on its own (parent gone): the ephemeral sandbox's. */
  removeOnShutdown?: string;
}

/** Child → parent. */
export type SandboxChildMessage =
  | { type: 'ready'; port: number; version: string }
  | { type: 'error'; message: string; code?: string };

/** Parent → child. */
export type SandboxParentMessage = { type: 'stop' };

/** The port asked for is taken (`listen` failed with this code): the parent retries with port 0. */
export const PORT_IN_USE = 'EADDRINUSE';
