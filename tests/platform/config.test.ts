import { describe, expect, it } from 'vitest';
import { ConfigError, parseServerConfig } from '../../server/config/index.js';
import { hashPassword, verifyPassword, withinJurisdiction } from '../../server/platform/access.js';

const problemsOf = (raw: object): string[] => {
  try {
    parseServerConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
};

describe('platform config', () => {
  it('keeps a config without platform working, with every default', () => {
    const config = parseServerConfig({});
    expect(config.platform).toMatchObject({
      requireAuth: false,
      users: [],
      installations: [],
      escalation: { acknowledgeWithinMs: [300_000, 900_000, 1_800_000], tickMs: 1_000 },
    });
  });

  it('reports every cross-check at once, naming the key', () => {
    const problems = problemsOf({
      enterprises: [{ id: 'ent-a', name: 'A' }],
      platform: {
        installations: [
          { id: 'u1', enterpriseId: 'ent-zz', name: 'x', inventory: [] },
          { id: 'u1', enterpriseId: 'ent-a', name: 'y', inventory: [] },
        ],
        users: [
          { username: 'op', role: 'enterprise', password: 'secret' },
          { username: 'op', role: 'regulator', password: 'secret', jurisdiction: { city: 'C' } },
          { username: 'nopass', role: 'admin' },
        ],
        escalation: { acknowledgeWithinMs: [1000, 500] },
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        "platform.installations[0].enterpriseId: not in enterprises (got 'ent-zz')",
        "platform.installations[1].id: duplicate id (got 'u1')",
        "platform.users[0].enterpriseId: role enterprise needs a known enterprise (got '')",
        "platform.users[1].username: duplicate (got 'op')",
        'platform.users[1].jurisdiction.province: role regulator needs a jurisdiction with at least a province',
        'platform.users[2]: needs password or passwordHash',
        'platform.escalation.acknowledgeWithinMs[1]: must be greater than the level before (got 500)',
      ]),
    );
  });

  it('hashes passwords with scrypt and verifies them', () => {
    const hash = hashPassword('s3cret');
    expect(hash).toMatch(/^scrypt\$/);
    expect(verifyPassword('s3cret', hash)).toBe(true);
    expect(verifyPassword('S3cret', hash)).toBe(false);
    expect(verifyPassword('s3cret', 'plain')).toBe(false);
  });

  it.each([
    [{ province: 'P' }, { province: 'P', city: 'C', county: 'K' }, true],
    [{ province: 'P', city: 'C' }, { province: 'P', city: 'C' }, true],
    [{ province: 'P', city: 'C' }, { province: 'P', city: 'D' }, false],
    [{ province: 'P', city: 'C', county: 'K' }, { province: 'P', city: 'C' }, false],
    [{ province: 'P', park: 'Z' }, { province: 'P', city: 'C', park: 'Z' }, true],
    [{}, { province: 'P' }, false],
  ])('decides %j contains %j: %s', (outer, inner, expected) => {
    expect(withinJurisdiction(outer, inner)).toBe(expected);
  });
});
