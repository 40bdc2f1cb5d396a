/**
 * An emergency centre's webhook that only counts: it answers 200 to every POST and keeps the
 * alarm pages it got, apart from follow-ups (cleared, closed). Shared by the PostgreSQL cluster
 * test (tests/cluster/pg-cluster.ts) and the cluster benchmark (bench/cluster-support.ts), which
 * both ask "was every alarm paged, and none twice?". The simulated centre with signatures, its
 * console and scripted failures is simulators/emergency-receiver.ts; this one stays bare so that
 * it adds nothing to the page times the benchmark measures.
 *
 * Lifecycle: `startPageReceiver()` resolves once the port listens; `close()` ends it and its
 * open connections; safe twice.
 */
import http from 'node:http';
import { freePort } from '../../common/net.js';

export interface Page {
  notificationId: string;
  alarmId: string;
  level: number;
  /** Arrival here (Date.now(), the clock the cluster test and bench stamp their alarms with). */
  at: number;
}

export interface PageReceiver {
  url: string;
  /** Alarm pages (follow-ups excluded), in arrival order. */
  readonly pages: Page[];
  /** Follow-ups (cleared, closed), as parsed. */
  readonly followUps: unknown[];
  /** Bodies that were not JSON: a server bug, kept so that a report or assertion can show them. */
  readonly unparsable: string[];
  close(): Promise<void>;
}

export async function startPageReceiver(): Promise<PageReceiver> {
  const pages: Page[] = [];
  const followUps: unknown[] = [];
  const unparsable: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const at = Date.now();
      try {
        const parsed = JSON.parse(body) as Record<string, unknown>;
        if (typeof parsed.kind === 'string') followUps.push(parsed);
        else {
          pages.push({
            notificationId: String(parsed.notificationId),
            alarmId: String(parsed.alarmId),
            level: Number(parsed.level),
            at,
          });
        }
      } catch {
        unparsable.push(body);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  let closed = false;
  const close = () =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      closed = true;
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url: `http://127.0.0.1:${port}/hook`, pages, followUps, unparsable, close };
}
