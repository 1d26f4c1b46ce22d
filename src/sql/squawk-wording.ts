// squawk's findings reworded where its text does not fit the statement: a volatile default is not a generated
// column, a named index needs no "explicit name", NOT VALID does not exist for UNIQUE, a type change may not rewrite.

import type { AnalyzedStatement } from './findings';
import { mayAvoidRewrite, typeText } from './type-change';

/** The text of a finding as reported. */
export interface Wording {
  message: string;
  help: string;
}

/** Constraint kinds PostgreSQL refuses to mark NOT VALID (SQLSTATE 0A000): only CHECK, FOREIGN KEY (and, on 18,
 *  NOT NULL) can be. Source: PostgreSQL docs, ALTER TABLE, "ADD table_constraint [ NOT VALID ]". */
const NO_NOT_VALID: Readonly<Record<string, string>> = { CONSTR_UNIQUE: 'UNIQUE', CONSTR_PRIMARY: 'PRIMARY KEY', CONSTR_EXCLUSION: 'EXCLUDE' };

function indexName(table: string, columns: string[], suffix: string): string {
  const t = table.slice(table.lastIndexOf('.') + 1);
  return `${t}_${columns.join('_')}_${suffix}`.slice(0, 63);
}

/** The concrete safe form of ADD CONSTRAINT … UNIQUE / PRIMARY KEY: a unique index built concurrently, then USING INDEX. */
function usingIndexHelp(table: string, kind: 'UNIQUE' | 'PRIMARY KEY', name: string | undefined, columns: string[]): string {
  const idx = name ?? indexName(table, columns.length ? columns : ['col'], kind === 'UNIQUE' ? 'key' : 'pkey');
  const cols = columns.length ? columns.join(', ') : '…';
  return `CREATE UNIQUE INDEX CONCURRENTLY ${idx} ON ${table} (${cols}); in a cell of its own (it blocks no writes), then ALTER TABLE ${table} ADD CONSTRAINT ${idx} ${kind} USING INDEX ${idx}; (a catalog change: no scan, no index build). NOT VALID is not accepted for ${kind} constraints.`;
}

/** The squawk rules {@link squawkWording} may reword; the others are reported as squawk writes them. */
export const REWORDED: ReadonlySet<string> = new Set([
  'adding-field-with-default', 'prefer-robust-stmts', 'constraint-missing-not-valid', 'disallowed-unique-constraint', 'adding-serial-primary-key-field', 'changing-column-type',
]);

/**
 * squawk's message and help for one violation, reworded where they do not fit what the statement does.
 *
 * @param rule squawk's rule id
 * @param squawk the message and help as squawk wrote them (help already replaced by ours when squawk gave none)
 * @param a the analyzed statement the violation points into
 * @param serverMajor the server's major version (defaults are stored without a rewrite from 11)
 * @param alsoReported squawk's rule ids on the same statement (called only when needed)
 * @returns the text to report, or null when the finding says nothing the others do not (and wrongly)
 */
export function squawkWording(rule: string, squawk: Wording, a: AnalyzedStatement | undefined, serverMajor: number, alsoReported: () => ReadonlySet<string>): Wording | null {
  if (!a) return squawk;
  const f = a.facts;
  const table = f.locks[0]?.table ?? '';
  switch (rule) {
    case 'adding-field-with-default': {
      // squawk calls every such column "generated"; on 11+ it fires for a volatile DEFAULT, before 11 for any DEFAULT.
      const col = f.addColumns?.find((c) => !c.generated);
      if (!col || f.addColumns?.some((c) => c.generated)) return squawk;
      const fn = col.defaultFunction ? ` (${col.defaultFunction}())` : '';
      const message = serverMajor >= 11
        ? `Adding ${col.column} with a volatile DEFAULT${fn} rewrites ${table} under an ACCESS EXCLUSIVE lock: PostgreSQL computes the default for every existing row, blocking reads and writes until it is done. (A non-volatile DEFAULT is only stored in the catalog, PostgreSQL 11+.)`
        : `Adding ${col.column} with a DEFAULT rewrites ${table} under an ACCESS EXCLUSIVE lock on PostgreSQL ${serverMajor}: every existing row gets the value, blocking reads and writes until it is done (from PostgreSQL 11 a non-volatile DEFAULT is only stored in the catalog).`;
      return {
        message,
        help: `Add the column without the DEFAULT, then ALTER TABLE ${table} ALTER COLUMN ${col.column} SET DEFAULT …; (applies to new rows, no rewrite), then fill existing rows in batches.`,
      };
    }
    case 'prefer-robust-stmts': {
      // squawk's help for CREATE INDEX asks for "an explicit name" even when the index has one.
      const idx = f.index;
      if (!idx || !/explicit name/i.test(squawk.help)) return squawk;
      if (!idx.name) return { message: squawk.message, help: 'Give the index a name: IF NOT EXISTS needs one, and a named index can be found and dropped if the build fails.' };
      const create = `CREATE ${idx.unique ? 'UNIQUE ' : ''}INDEX ${idx.concurrent ? 'CONCURRENTLY ' : ''}IF NOT EXISTS ${idx.name} ON ${idx.table} …`;
      return {
        message: squawk.message,
        help: idx.concurrent
          ? `Write ${create} so the step can run again. A failed concurrent build leaves the index behind, invalid, and IF NOT EXISTS then skips it: drop it first (DROP INDEX CONCURRENTLY IF EXISTS ${idx.name};).`
          : `Write ${create} so the step can run again.`,
      };
    }
    case 'constraint-missing-not-valid': {
      const con = f.addConstraints?.find((c) => NO_NOT_VALID[c.contype] && !c.usingIndex);
      if (!con) return squawk;
      // The same statement's disallowed-unique-constraint / adding-serial-primary-key-field gives the right advice.
      const others = alsoReported();
      if (others.has('disallowed-unique-constraint') || others.has('adding-serial-primary-key-field')) return null;
      const kind = NO_NOT_VALID[con.contype];
      if (kind === 'EXCLUDE') {
        return {
          message: `Adding an EXCLUDE constraint builds its index under an ACCESS EXCLUSIVE lock on ${table}, blocking reads and writes for as long as the build takes; PostgreSQL does not accept NOT VALID for EXCLUDE constraints (SQLSTATE 0A000).`,
          help: 'There is no concurrent form: add it while the table is small, or in a window where blocking the table is acceptable (with a lock_timeout).',
        };
      }
      return {
        message: `Adding a ${kind} constraint builds a unique index under an ACCESS EXCLUSIVE lock on ${table}, blocking reads and writes for as long as the build takes; NOT VALID is not accepted for ${kind} constraints (SQLSTATE 0A000).`,
        help: usingIndexHelp(table, kind as 'UNIQUE' | 'PRIMARY KEY', con.name, con.columns),
      };
    }
    case 'disallowed-unique-constraint': case 'adding-serial-primary-key-field': {
      const con = f.addConstraints?.find((c) => (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY') && !c.usingIndex);
      if (!con) return squawk;
      return { message: squawk.message, help: usingIndexHelp(table, con.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'PRIMARY KEY', con.name, con.columns) };
    }
    case 'changing-column-type': {
      const changes = a.typeChanges ?? [];
      const rewriting = changes.filter((d) => d.rewrites === true);
      const unsure = changes.filter((d) => d.rewrites === undefined);
      if (rewriting.length) {
        return {
          message: `${rewriting.map((d) => `${d.table}.${d.column}: ${d.reason}`).join('; ')}. PostgreSQL rewrites ${table} and rebuilds its indexes under an ACCESS EXCLUSIVE lock, blocking reads and writes for as long as that takes. Changing the type may also break clients that read the column.`,
          help: squawk.help,
        };
      }
      if (unsure.length) {
        const to = f.typeChanges?.find((t) => t.column === unsure[0].column)?.to;
        const hint = to && mayAvoidRewrite(to) && /not known/.test(unsure[0].reason)
          ? ` Some changes to ${typeText(to)} keep the table (varchar(n) → text, a larger varchar or numeric precision): lint with --connection to decide from the column's current type.`
          : '';
        return { message: `${squawk.message} Whether it rewrites cannot be told here: ${unsure.map((d) => d.reason).join('; ')}.${hint}`, help: squawk.help };
      }
      return squawk;
    }
    default:
      return squawk;
  }
}
