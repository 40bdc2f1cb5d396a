/** The database config: modes by name, every problem reported at once, passwords kept out of messages. */
import { describe, expect, it } from 'vitest';
import { checkDatabaseConfig, redactUrl } from '../../server/db/config.js';
import { Database } from '../../server/db/database.js';

describe('the database config', () => {
  it.each([
    [{ kind: 'sqlite', path: 'data/hazardwatch.db' }, []],
    [{ kind: 'postgres', url: 'postgres://hw@db:5432/hw', poolSize: 10 }, []],
    [{ kind: 'mysql' }, ["database.kind: must be one of sqlite, postgres (got 'mysql')"]],
    [{ kind: 'sqlite' }, ["database.path: required with kind 'sqlite' (a file, or ':memory:')"]],
    [
      { kind: 'postgres', url: 'mysql://x', poolSize: 0, path: 'x.db' },
      [
        "database.url: required with kind 'postgres' (postgres://user@host:port/db)",
        'database.poolSize: must be an integer >= 1 (got 0)',
        "database.path: not used with kind 'postgres'",
      ],
    ],
  ])('%j → %j', (config, problems) => {
    expect(checkDatabaseConfig(config)).toEqual(problems);
  });

  it('is refused by the Database constructor with every problem named', () => {
    expect(() => new Database({ kind: 'postgres', url: '', poolSize: 0 })).toThrow(
      /database config: database\.url: .*; database\.poolSize: must be an integer >= 1 \(got 0\)/,
    );
  });

  it('never shows a password in messages', () => {
    expect(redactUrl('postgres://hw:s3cret@db:5432/hw')).toBe('postgres://hw:***@db:5432/hw');
    const db = new Database({
      kind: 'postgres',
      url: 'postgres://hw:s3cret@db:5432/hw',
      poolSize: 1,
    });
    expect(db.where).not.toContain('s3cret');
  });

  it('a PostgreSQL that is not there fails start() naming the URL without its password', async () => {
    const db = new Database({
      kind: 'postgres',
      url: 'postgres://hw:s3cret@127.0.0.1:1/hw',
      poolSize: 1,
    });
    const error = await db.start().then(
      () => null,
      (err: Error) => err,
    );
    expect(error?.message).toMatch(
      /^cannot start database 'postgres:\/\/hw:\*\*\*@127\.0\.0\.1:1\/hw'/,
    );
    expect(error?.message).not.toContain('s3cret');
    expect(db.started).toBe(false);
  });
});
