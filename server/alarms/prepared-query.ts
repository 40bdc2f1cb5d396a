/**
 * A Kysely query compiled once, with named slots where each call's values go, so a hot path
 * (the alarm ledger's record(), on the way to the emergency page) neither rebuilds the query
 * tree nor recompiles its SQL on every call. Kysely has no prepared-statement API of its own;
 * a compiled query is plain SQL plus a parameter list, so binding is swapping that list.
 *
 *   const q = prepare(db.selectFrom('alarms').selectAll().where('alarm_id', '=', slot('id')));
 *   await trx.executeQuery(q.bind({ id: 'a1' }));
 *
 * Only values may be slots (Kysely puts them in the parameter list); a query whose parameter
 * list holds anything else is refused when it is prepared, so no literal is silently frozen.
 */
import type { Compilable, CompiledQuery } from 'kysely';

class Slot {
  constructor(readonly name: string) {}
}

/** A placeholder for the value bound under `name`; typed as the column's type for the builder. */
export function slot<T>(name: string): T {
  return new Slot(name) as unknown as T;
}

/** One slot per key of `shape`, named after it: for `.values(slots(row))` of an insert. */
export function slots<T extends object>(keys: readonly (keyof T & string)[]): T {
  return Object.fromEntries(keys.map((k) => [k, slot(k)])) as T;
}

export class PreparedQuery<R> {
  private readonly names: readonly string[];

  constructor(
    private readonly compiled: CompiledQuery<R>,
    what: string,
  ) {
    this.names = compiled.parameters.map((p, i) => {
      if (!(p instanceof Slot)) {
        throw new Error(`prepared query '${what}': parameter ${i + 1} is a literal, not a slot`);
      }
      return p.name;
    });
  }

  /** The compiled query with these values in its slots; a missing value is refused by name. */
  bind(values: Readonly<Record<string, unknown>>): CompiledQuery<R> {
    const parameters = this.names.map((name) => {
      const value = values[name];
      if (value === undefined) throw new Error(`prepared query: no value for slot '${name}'`);
      return value;
    });
    return { ...this.compiled, parameters };
  }
}

export function prepare<R>(query: Compilable<R>, what: string): PreparedQuery<R> {
  return new PreparedQuery(query.compile(), what);
}
