/**
 * `ledger` section of the server config: where the chain key and the anchors live and how often
 * the chain is anchored and verified (docs/ledger.md).
 */
import { LEDGER_INTEGRITY_DEFAULTS } from './ledger-integrity.js';

export interface LedgerConfig {
  /** Key file; absent: `ledger.key` beside the SQLite file (HAZARDWATCH_LEDGER_KEY wins). */
  readonly keyFile?: string;
  /** Anchor file; absent: `ledger-anchors.jsonl` beside the SQLite file. */
  readonly anchorFile?: string;
  readonly anchorIntervalMs: number;
  readonly verifyIntervalMs: number;
  readonly anchorTopic: string;
}

export const ledgerConfigSchema = {
  title: 'Disposal ledger integrity',
  description: 'Keyed hash chain, anchors and self-checks of the alarm disposal ledger.',
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    keyFile: {
      title: 'Chain key file',
      description:
        'HMAC key of the chain (64 hex digits), created with mode 0600 on first start when absent. Default: ledger.key beside the SQLite file. The environment variable HAZARDWATCH_LEDGER_KEY takes precedence. Keep it out of database backups.',
      type: 'string',
      minLength: 1,
    },
    anchorFile: {
      title: 'Anchor file',
      description:
        'Append-only JSONL of chain heads (seq, hash, time, MAC). Default: ledger-anchors.jsonl beside the SQLite file.',
      type: 'string',
      minLength: 1,
    },
    anchorIntervalMs: {
      title: 'Anchor interval (ms)',
      description:
        'The chain head is anchored (file, log, MQTT) this often when it moved; rows newer than the last anchor can be deleted unseen.',
      type: 'integer',
      minimum: 1_000,
      default: LEDGER_INTEGRITY_DEFAULTS.anchorIntervalMs,
    },
    verifyIntervalMs: {
      title: 'Self-check interval (ms)',
      description:
        'The whole chain, the dispositions and the anchors are verified this often; a failure raises a platform alarm.',
      type: 'integer',
      minimum: 10_000,
      default: LEDGER_INTEGRITY_DEFAULTS.verifyIntervalMs,
    },
    anchorTopic: {
      title: 'MQTT anchor topic',
      description:
        'Retained anchor messages for an external witness. Not under hazardwatch/v1/<enterprise>/<gateway>/, so no gateway may publish there; grant witnesses subscribe-only access.',
      type: 'string',
      pattern: '^[^#+$][^#+]*$',
      default: LEDGER_INTEGRITY_DEFAULTS.anchorTopic,
    },
  },
} as const;
