/** CSV export of the disposal ledger (the regulator's offline copy of the chain). */
import { canonicalJson, type DisposalEvent } from './disposal-chain.js';

const CSV_COLUMNS = [
  'seq',
  'enterpriseId',
  'gatewayId',
  'alarmId',
  'action',
  'actor',
  'detail',
  'at',
  'prevHash',
  'hash',
] as const;

/** RFC 4180 field; a leading = + - @ is prefixed with ' so spreadsheets do not run it as a formula. */
function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** CSV (header + one line per row, CRLF) of the given events; `at` as ISO 8601. */
export function* disposalCsv(events: Iterable<DisposalEvent>): Generator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  for (const e of events) {
    const fields = [
      String(e.seq),
      e.enterpriseId,
      e.gatewayId,
      e.alarmId,
      e.action,
      e.actor,
      canonicalJson(e.detail),
      new Date(e.at).toISOString(),
      e.prevHash,
      e.hash,
    ];
    yield `${fields.map(csvField).join(',')}\r\n`;
  }
}
