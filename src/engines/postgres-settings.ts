// Tracks the lock_timeout and statement_timeout in force on a session, re-reading them only after statements that can change them.

import type { Node } from 'libpg-query';
import type { TransactionState } from '../format/model';
import type { SqlStatement } from '../sql/split';

/** The two settings a record shows, as the server shows them (`SHOW`): `5s`, `100ms`, `0` (off). */
export interface SessionSettings {
  lockTimeout: string;
  statementTimeout: string;
}

/** A setting's PostgreSQL name. */
export type SettingName = 'lock_timeout' | 'statement_timeout';

const KEYS: Record<SettingName, keyof SessionSettings> = { lock_timeout: 'lockTimeout', statement_timeout: 'statementTimeout' };

/**
 * Runs `SET name = 'value'` for each pair, then `SHOW lock_timeout; SHOW statement_timeout`, as one
 * simple-query message (one round trip), and returns what the server shows afterwards.
 */
export type SettingsExchange = (sets: ReadonlyArray<readonly [SettingName, string]>) => Promise<SessionSettings>;

// Names whose SET/RESET can change the two settings: themselves, and the role changes the brief of
// issue 8 lists (PostgreSQL applies role defaults at login only, but a re-read costs one round trip
// after a rare statement and is then right whatever the server does).
const SETTING_NAMES = new Set(['lock_timeout', 'statement_timeout', 'role', 'session_authorization']);

// Transaction ends undo or keep the SETs made inside the transaction and end SET LOCAL
// (PostgreSQL docs, SET: "The effects of SET LOCAL last only till the end of the current
// transaction"; a SET is undone by the rollback of the transaction or savepoint it was made in).
const ENDS_SETTINGS_SCOPE = new Set(['TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_ROLLBACK_TO', 'TRANS_STMT_PREPARE']);

// A set_config() call or a SET inside a DO block or a function body shows in the statement's text,
// not in its parse tree (function calls and bodies are opaque there): a plain text search is enough
// to decide on a re-read, and costs nothing on the statements it does not match. A function that
// sets them without naming them in the statement is not seen.
const MENTIONS_SETTINGS = /set_config|lock_timeout|statement_timeout/i;

/**
 * Whether `stmt` can change `lock_timeout` or `statement_timeout` in force: `SET`/`SET LOCAL`/`RESET`
 * of either, `RESET ALL`, `SET ROLE`, `SET SESSION AUTHORIZATION`, `DISCARD ALL`, `COMMIT`, `ROLLBACK`,
 * `ROLLBACK TO SAVEPOINT`, `PREPARE TRANSACTION`, and any statement whose text names `set_config`
 * or either setting. Decided from the parse tree the splitter gives and the text, without a round trip.
 */
export function mayChangeSettings(statement: Pick<SqlStatement, 'stmt' | 'text'>): boolean {
  const [kind, body] = Object.entries(statement.stmt)[0] ?? [];
  const b = (body ?? {}) as { kind?: string; name?: string; target?: string };
  switch (kind) {
    case 'VariableSetStmt':
      return b.kind === 'VAR_RESET_ALL' || b.name === undefined || SETTING_NAMES.has(b.name.toLowerCase());
    case 'DiscardStmt':
      return b.target === 'DISCARD_ALL';
    case 'TransactionStmt':
      return ENDS_SETTINGS_SCOPE.has(b.kind ?? '');
    default:
      return MENTIONS_SETTINGS.test(statement.text);
  }
}

/**
 * A cell's override that may still need undoing: the server showed `override` after it, `restoreTo`
 * was in force before it. `restored` once it was put back inside a transaction that has not ended:
 * only a rollback of that transaction can bring the override back then.
 */
interface PendingRestore {
  name: SettingName;
  override: string;
  restoreTo: string;
  /** Sequence number of the cell that made it. */
  cell: number;
  restored: boolean;
}

/** What a statement did to the transaction, for `SettingsTracker.afterStatement`. */
export interface StatementEffect {
  txBefore: TransactionState;
  txAfter: TransactionState;
  /** Command tag, when the server sent one (`ROLLBACK` for a COMMIT of a failed transaction). */
  tag?: string;
  /** Whether the statement failed. */
  failed: boolean;
}

/**
 * The settings in force on one session, kept current without a round trip per statement.
 *
 * Call `beginCell` before a cell's first statement, `afterStatement` after each statement and `endCell`
 * after the cell. Only statements for which `mayChangeSettings` is true, and transaction ends, cost a
 * round trip: `SHOW lock_timeout; SHOW statement_timeout`. SHOW takes no snapshot (PostgreSQL runs
 * VariableShowStmt without one: src/backend/tcop/pquery.c, PlannedStmtRequiresSnapshot), so a
 * `SET TRANSACTION ISOLATION LEVEL` after it still works.
 *
 * Cell overrides (`lock_timeout`/`timeout` options) are SETs made before the cell and put back after
 * it to the value in force before them, unless the cell's own SQL replaced the override's value (that
 * SET stays, as SQL says). A put-back made inside a transaction is undone if the transaction rolls
 * back: it is made again after the rollback.
 *
 * While the transaction has failed nothing can be read (every statement but ROLLBACK is refused); the
 * values last read are kept and re-read after the statement that ends the failed transaction.
 */
export class SettingsTracker {
  private current: Readonly<SessionSettings>;
  private stale = false;
  private pending: PendingRestore[] = [];
  private cellSeq = 0;

  constructor(
    initial: SessionSettings,
    private readonly exchange: SettingsExchange,
  ) {
    this.current = Object.freeze({ ...initial });
  }

  /**
   * What is in force now (as last read: see the class comment for a failed transaction). A frozen
   * object, replaced (never changed) by each read: cheap to take once per statement.
   */
  get inForce(): Readonly<SessionSettings> {
    return this.current;
  }

  /**
   * Before a cell: puts back earlier overrides never put back (their cell ended in a failed
   * transaction) and applies this cell's overrides, in one round trip. Nothing is sent when there is
   * nothing to do, or while the transaction has failed (SET is refused then).
   *
   * @param overrides values already checked as time settings (interval text or ms as text).
   * @throws the server's error: the value was refused, or the session is lost.
   */
  async beginCell(overrides: Partial<Record<SettingName, string>>, tx: TransactionState): Promise<void> {
    this.cellSeq++;
    if (tx === 'failed') return;
    const sets = this.restoreSets((p) => !p.restored);
    const names = (Object.keys(overrides) as SettingName[]).filter((n) => overrides[n] !== undefined);
    if (sets.length === 0 && names.length === 0 && !this.stale) return;
    const before: Partial<Record<SettingName, string>> = {};
    for (const name of names) before[name] = sets.find((s) => s.name === name)?.restoreTo ?? this.current[KEYS[name]];
    await this.run([...sets.map(pair), ...names.map((n) => [n, overrides[n]!] as const)]);
    this.settle(sets, tx);
    for (const name of names) this.pending.push({ name, override: this.current[KEYS[name]], restoreTo: before[name]!, cell: this.cellSeq, restored: false });
  }

  /**
   * After a statement (also one that failed): re-reads the settings when the statement may have changed
   * them or ended a transaction; after a rollback, puts back again what an earlier cell's override had
   * replaced if the rollback brought the override back. A failed re-read is swallowed: the values are
   * read again at the next chance.
   */
  async afterStatement(statement: Pick<SqlStatement, 'stmt' | 'text'>, effect: StatementEffect): Promise<void> {
    if (!this.wantsRead(statement, effect)) return;
    const rolledBack = rolledBackBy(statement, effect);
    if (effect.txAfter === 'failed') {
      this.stale = true;
      return;
    }
    try {
      await this.run([]);
      const sets = rolledBack ? this.restoreSets((p) => p.cell < this.cellSeq) : [];
      if (sets.length > 0) await this.run(sets.map(pair));
      this.settle(sets, effect.txAfter, (p) => p.cell < this.cellSeq);
    } catch {
      this.stale = true;
    }
  }

  /**
   * Whether `afterStatement` has anything to do for this statement, decided without a round trip. The
   * statement loop asks first so that a plain statement does not even pay for an `await`.
   */
  wantsRead(statement: Pick<SqlStatement, 'stmt' | 'text'>, effect: StatementEffect): boolean {
    return this.stale || (effect.txBefore !== 'idle' && effect.txAfter === 'idle') || rolledBackBy(statement, effect) || mayChangeSettings(statement);
  }

  /** After a cell: puts back what its override replaced (unless the cell's own SQL replaced the override since). */
  async endCell(tx: TransactionState): Promise<void> {
    if (tx === 'failed') return;
    const sets = this.restoreSets((p) => !p.restored);
    if (sets.length > 0 || this.stale) await this.run(sets.map(pair));
    this.settle(sets, tx);
  }

  /** Marks the values as unknown until the next read (e.g. a read failed). */
  invalidate(): void {
    this.stale = true;
  }

  private async run(sets: ReadonlyArray<readonly [SettingName, string]>): Promise<void> {
    this.current = Object.freeze(await this.exchange(sets));
    this.stale = false;
  }

  /**
   * After put-backs were sent: idle, they are committed and nothing can bring an override back, so the
   * entries (of the cells `which` selects) are done; in a transaction, they are marked restored.
   */
  private settle(done: PendingRestore[], tx: TransactionState, which: (p: PendingRestore) => boolean = () => true): void {
    if (tx === 'idle') this.pending = this.pending.filter((p) => !which(p));
    else for (const p of done) p.restored = true;
  }

  /**
   * The entries to put back now: those whose override is still in force, i.e. the setting shows the very
   * value the override gave it (otherwise SQL, or a ROLLBACK past the override, has replaced it, and
   * that value stays). Newest first, one per setting.
   */
  private restoreSets(which: (p: PendingRestore) => boolean): PendingRestore[] {
    const chosen: PendingRestore[] = [];
    for (const p of [...this.pending].reverse()) {
      if (!which(p) || chosen.some((c) => c.name === p.name)) continue;
      if (this.current[KEYS[p.name]] === p.override && p.override !== p.restoreTo) chosen.push(p);
    }
    return chosen;
  }
}

function pair(p: PendingRestore): readonly [SettingName, string] {
  return [p.name, p.restoreTo];
}

/** Whether the statement rolled back (part of) a transaction: ROLLBACK, ROLLBACK TO, a COMMIT answered ROLLBACK, a failed COMMIT. */
function rolledBackBy(statement: Pick<SqlStatement, 'stmt'>, effect: StatementEffect): boolean {
  const kind = (statement.stmt as { TransactionStmt?: { kind?: string } }).TransactionStmt?.kind;
  if (kind === 'TRANS_STMT_ROLLBACK' || kind === 'TRANS_STMT_ROLLBACK_TO' || effect.tag === 'ROLLBACK') return true;
  return effect.failed && effect.txBefore !== 'idle' && effect.txAfter === 'idle';
}

/** Kinds of statement that PostgreSQL runs without taking a snapshot (src/backend/tcop/pquery.c, PlannedStmtRequiresSnapshot). */
const NO_SNAPSHOT = new Set([
  'TransactionStmt', 'LockStmt', 'VariableSetStmt', 'VariableShowStmt', 'ConstraintsSetStmt',
  'FetchStmt', 'ListenStmt', 'NotifyStmt', 'UnlistenStmt', 'CheckPointStmt',
]);

/**
 * Whether running `stmt` inside a transaction takes a snapshot. A transaction that has run none of these
 * has no transaction id yet (writing needs a snapshot first), and a query of ours then would take its
 * first snapshot, which would fix a REPEATABLE READ snapshot early and make a later
 * `SET TRANSACTION ISOLATION LEVEL` fail.
 */
export function takesSnapshot(stmt: Node): boolean {
  const kind = Object.keys(stmt)[0] ?? '';
  return !NO_SNAPSHOT.has(kind);
}
