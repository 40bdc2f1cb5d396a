/**
 * The minimal envelope: what the server can learn from a telemetry or alarm
 * payload before (and without) the schema, so that an item it cannot parse is
 * still rejected by name (StoreAck `rejected`) instead of being resent forever.
 *
 * Gateways write the envelope first and in a fixed order,
 *   {"v":1,"gatewayId":"…","enterpriseId":"…","seq":N,"epoch":"…",…
 * so the head survives a payload truncated or garbled further on. `readEnvelopeHead`
 * reads that head with an anchored pattern on the first bytes only; for
 * payloads of other producers (other key order) it falls back to a full JSON
 * parse. MQTT 3.1.1 has no user properties and aedes speaks only 3.1.1, which
 * is why the seq travels at the head of the payload and not beside it.
 */

import { ID_PATTERN } from './topics.js';

/** Outbox epoch ids: what `newEpoch` makes (and anything similar from other producers). */
export const EPOCH_PATTERN = '^[A-Za-z0-9_-]{8,64}$';

/** What the head of a payload names. */
export interface EnvelopeHead {
  gatewayId: string;
  enterpriseId: string;
  seq: number;
  epoch?: string;
}

/** Bytes of a payload the head pattern looks at: the envelope is about 200 bytes long. */
const HEAD_BYTES = 320;

/** A pattern's body without its anchors, to build the head pattern from the same ids. */
const unanchored = (pattern: string) => pattern.replace(/^\^/, '').replace(/\$$/, '');
const ID = unanchored(ID_PATTERN);
const EPOCH = unanchored(EPOCH_PATTERN);

const HEAD = new RegExp(
  `^\\{"v":1,"gatewayId":"(${ID})","enterpriseId":"(${ID})",` +
    `"seq":(0|[1-9][0-9]{0,15})(?:,"epoch":"(${EPOCH})")?[,}]`,
);

/**
 * The envelope head of a payload, or null when it cannot be read (then the
 * item cannot be named at all). Never throws.
 */
export function readEnvelopeHead(payload: Buffer | string): EnvelopeHead | null {
  const text =
    typeof payload === 'string'
      ? payload.slice(0, HEAD_BYTES)
      : payload.subarray(0, HEAD_BYTES).toString('latin1');
  const match = HEAD.exec(text);
  if (match) {
    const seq = Number(match[3]);
    if (!Number.isSafeInteger(seq)) return null;
    const head: EnvelopeHead = { gatewayId: match[1]!, enterpriseId: match[2]!, seq };
    if (match[4] !== undefined) head.epoch = match[4];
    return head;
  }
  return parsedHead(payload);
}

const epochRegex = new RegExp(EPOCH_PATTERN);

function parsedHead(payload: Buffer | string): EnvelopeHead | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { gatewayId, enterpriseId, seq, epoch } = parsed as Record<string, unknown>;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return null;
  const head: EnvelopeHead = {
    gatewayId: typeof gatewayId === 'string' ? gatewayId : '',
    enterpriseId: typeof enterpriseId === 'string' ? enterpriseId : '',
    seq,
  };
  if (typeof epoch === 'string' && epochRegex.test(epoch)) head.epoch = epoch;
  return head;
}
