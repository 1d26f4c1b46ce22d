// Whether `ALTER TABLE … ALTER COLUMN … TYPE` rewrites the table, decided from PostgreSQL's rules for binary-coercible
// changes and typmod increases rather than from the statement's shape alone.

import type { Node, TypeName } from 'libpg-query';

/**
 * A column type as far as the rewrite rules need it: the type's name (`pg_type.typname`: `varchar`, `numeric`,
 * `int4`, a domain's own name), its modifiers as written (`varchar(20)` → `[20]`, `numeric(12,2)` → `[12, 2]`, none →
 * `[]`), and whether it is an array.
 */
export interface ColumnType {
  name: string;
  /** Type modifiers as written in SQL (lengths, precision, scale); empty when unconstrained. Undefined: not constants. */
  mods: number[] | undefined;
  array: boolean;
  /** For a domain (from the catalog only): its base type and whether it has constraints (CHECK, NOT NULL). */
  domain?: { base: ColumnType; constrained: boolean };
}

/** What changing a column from one type to another does to the table. */
export interface RewriteDecision {
  /** true: a new data file is written (and every index rebuilt); false: the data file and the indexes are kept;
   *  undefined: cannot tell (a USING expression, a COLLATE clause, a type the rules do not cover). */
  rewrites: boolean | undefined;
  /** Why, for messages: `varchar(10) → text is binary coercible`. */
  reason: string;
}

/** `varchar(20)`, `numeric(12,2)`, `text[]`, for messages. */
export function typeText(t: ColumnType): string {
  const base = DISPLAY[t.name] ?? t.name;
  return `${base}${t.mods && t.mods.length ? `(${t.mods.join(',')})` : ''}${t.array ? '[]' : ''}`;
}

const DISPLAY: Record<string, string> = { int2: 'smallint', int4: 'integer', int8: 'bigint', bpchar: 'char', float4: 'real', float8: 'double precision' };

function stringsOf(list: Node[] | undefined): string[] {
  return (list ?? []).map((n) => ((n as { String?: { sval?: string } }).String?.sval ?? ''));
}

/** The {@link ColumnType} a parsed type name denotes (`pg_catalog.varchar` with typmod 20 → `varchar`, `[20]`). */
export function columnTypeOf(t: TypeName | undefined): ColumnType | undefined {
  const names = stringsOf(t?.names);
  if (!t || names.length === 0) return undefined;
  const mods: number[] = [];
  let constant = true;
  for (const m of t.typmods ?? []) {
    const ival = (m as { A_Const?: { ival?: { ival?: number } } }).A_Const?.ival;
    if (ival) mods.push(ival.ival ?? 0); else constant = false;
  }
  return { name: names[names.length - 1].toLowerCase(), mods: constant ? mods : undefined, array: (t.arrayBounds?.length ?? 0) > 0 };
}

/**
 * Decodes `pg_attribute.atttypmod` (or a domain's `pg_type.typtypmod`) into the modifiers as written: `varchar` and
 * `bpchar` store n + 4 (VARHDRSZ), `numeric` ((precision << 16) | scale) + 4, `bit`, `varbit` and the time types
 * the number itself; -1 means unconstrained. Source: PostgreSQL source, the types' `*typmodin` functions
 * (src/backend/utils/adt/varchar.c, numeric.c, varbit.c, timestamp.c, date.c).
 *
 * @returns undefined for a type whose modifier this does not know (interval: it packs its field list too)
 */
export function modsFromTypmod(typname: string, typmod: number): number[] | undefined {
  if (typmod < 0) return [];
  switch (typname) {
    case 'varchar': case 'bpchar': return [typmod - 4];
    case 'numeric': return [((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff];
    case 'bit': case 'varbit': case 'timestamp': case 'timestamptz': case 'time': case 'timetz': return [typmod];
    default: return undefined;
  }
}

/**
 * Casts between different types that PostgreSQL performs without changing the stored bytes (binary coercible,
 * `pg_cast.castmethod = 'b'`) and after which it keeps the indexes (same operator class family). Only those whose
 * target is then unconstrained keep the table: a length on the new type (text → varchar(10)) adds a check of every
 * row. Checked against pg_cast and a real rewrite in test/integration/safety-round2.test.ts.
 */
const BINARY_COERCIBLE: ReadonlySet<string> = new Set(['varchar>text', 'text>varchar', 'cidr>inet', 'xml>text', 'xml>varchar']);

/** Types whose typmod may grow without a rewrite: each has a planner support function that drops the length
 *  coercion when the new limit is no tighter (varchar_support, numeric_support, varbit_support, timestamp_support,
 *  time_support; PostgreSQL 9.2+). `bpchar` and `bit` pad to their length, so a new length rewrites. */
const WIDENS: ReadonlySet<string> = new Set(['varchar', 'varbit', 'numeric', 'timestamp', 'timestamptz', 'time', 'timetz']);

function sameMods(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Same type, other modifiers: does the new limit admit every old value unchanged? */
function widening(name: string, from: number[], to: number[]): boolean | undefined {
  if (sameMods(from, to)) return true;
  if (!WIDENS.has(name)) return name === 'interval' ? undefined : false;
  if (to.length === 0) return true; // the limit is dropped
  if (from.length === 0) return false; // a limit is added: every row is checked (or rounded)
  if (name === 'numeric') return (to[1] ?? 0) === (from[1] ?? 0) && to[0] >= from[0]; // scale fixed, precision up
  return to[0] >= from[0];
}

/**
 * Decides whether changing a column from `from` to `to` rewrites the table, following the ALTER TABLE docs (Notes):
 * "changing the type of an existing column will normally cause the entire table and its indexes to be rewritten",
 * except "if the USING clause does not change the column contents and the old type is either binary coercible to the
 * new type or an unconstrained domain over the new type" (a domain to its own base type keeps the table even with
 * constraints: checked on the server in test/integration/safety-round2.test.ts); and the 9.2 release notes: increasing the length limit of
 * varchar or varbit, the precision of numeric (same scale) or of timestamp/timestamptz/time, or removing the limit,
 * needs no rewrite. These hold on every PostgreSQL release since 9.2. Not modelled (reported as a rewrite):
 * timestamp → timestamptz, which PostgreSQL 12+ does without a rewrite only when the session's TimeZone is UTC, and
 * rebuilds the indexes even then.
 *
 * @param using the statement has a USING clause (PostgreSQL then evaluates it for every row)
 * @param collate the statement has a COLLATE clause (indexes are rebuilt when the collation changes)
 */
export function rewriteDecision(from: ColumnType, to: ColumnType, opts: { using?: boolean; collate?: boolean } = {}): RewriteDecision {
  const change = `${typeText(from)} → ${typeText(to)}`;
  if (opts.using) return { rewrites: undefined, reason: `${change} has a USING clause: PostgreSQL rewrites the table unless the expression leaves every value as it is` };
  if (opts.collate) return { rewrites: undefined, reason: `${change} names a collation: indexes on the column are rebuilt when it differs from the current one` };
  if (from.mods === undefined || to.mods === undefined) return { rewrites: undefined, reason: `${change}: the type modifiers cannot be compared` };
  if (from.array || to.array) {
    if (from.array && to.array && from.name === to.name && sameMods(from.mods, to.mods)) return { rewrites: false, reason: `${change} changes nothing` };
    return { rewrites: undefined, reason: `${change}: array element changes are not checked` };
  }
  if (from.domain) {
    // A domain's values are values of its base type: to the base type (or a wider typmod of it) nothing changes, its
    // constraints or not (seen on PostgreSQL 18: a CHECKed domain over text → text keeps the table and its index).
    const base = from.domain.base;
    if (base.name === to.name && base.mods && widening(to.name, base.mods, to.mods) === true) {
      return { rewrites: false, reason: `${change}: ${from.name} is a domain over ${typeText(base)}, whose values fit ${typeText(to)} unchanged` };
    }
    return { rewrites: true, reason: `${change}: ${from.name} is a domain over ${typeText(base)}, not over ${typeText(to)}` };
  }
  if (from.name === to.name) {
    const w = widening(to.name, from.mods, to.mods);
    if (w === undefined) return { rewrites: undefined, reason: `${change}: changes of ${to.name}'s modifiers are not checked` };
    if (sameMods(from.mods, to.mods)) return { rewrites: false, reason: `${change} changes nothing` };
    return w
      ? { rewrites: false, reason: `${change} only raises or removes the limit: every value fits unchanged` }
      : { rewrites: true, reason: `${change} ${to.mods.length > 0 && from.mods.length === 0 ? 'adds a limit' : 'lowers the limit or changes the scale'}: every row is checked or converted` };
  }
  if (BINARY_COERCIBLE.has(`${from.name}>${to.name}`)) {
    if (to.mods.length === 0) return { rewrites: false, reason: `${change} is binary coercible` };
    return { rewrites: true, reason: `${change} is binary coercible but adds a limit: every row is checked` };
  }
  return { rewrites: true, reason: `${change} is not binary coercible: every value is converted` };
}

/** Target types from which some old type changes without a rewrite: where an unknown old type leaves a doubt. */
export function mayAvoidRewrite(to: ColumnType): boolean {
  return !to.array && (WIDENS.has(to.name) || ['text', 'inet', 'interval'].includes(to.name));
}
