/**
 * A small InfluxQL client for the `/query` endpoint, which InfluxDB 1.x,
 * 2.x (through a DBRP mapping) and 3.x all answer, so one reader serves every
 * server version. Times are asked for as epoch milliseconds (`epoch=ms`).
 *
 * Only read statements are sent (GET); identifiers and string literals are
 * quoted here, never concatenated raw.
 */

export interface InfluxQlOptions {
  url: string;
  database: string;
  retentionPolicy?: string;
  /** Sent as `Authorization: Token <token>` (2.x/3.x tokens; 1.8+ accepts `user:password`). */
  token?: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** One series of a statement's result. */
export interface InfluxQlSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

interface QueryResponse {
  results?: { statement_id?: number; series?: InfluxQlSeries[]; error?: string }[];
  error?: string;
}

/** `'it''s'` style is not InfluxQL: it escapes with backslashes. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Identifiers in double quotes (measurement, field, tag, database names). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A time literal in ms (InfluxQL accepts integer durations as `<n>ms` in time comparisons). */
export function timeMs(ms: number): string {
  if (!Number.isSafeInteger(ms)) throw new Error(`time must be integer epoch ms (got ${ms})`);
  return `${ms}ms`;
}

export class InfluxQlError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InfluxQlError';
  }
}

export class InfluxQlClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly options: InfluxQlOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /** The series of the first statement's result (empty when nothing matched). */
  async query(statement: string): Promise<InfluxQlSeries[]> {
    const { url, database, retentionPolicy, token, timeoutMs } = this.options;
    const params = new URLSearchParams({ db: database, q: statement, epoch: 'ms' });
    if (retentionPolicy) params.set('rp', retentionPolicy);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Token ${token}`;
    const endpoint = `${url.replace(/\/+$/, '')}/query?${params}`;
    let response: Response;
    try {
      response = await this.fetch(endpoint, { headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new InfluxQlError(
        `InfluxQL query to ${url} failed: ${(err as Error).message}`,
        undefined,
        {
          cause: err,
        },
      );
    }
    const text = await response.text();
    let body: QueryResponse;
    try {
      body = JSON.parse(text) as QueryResponse;
    } catch (err) {
      throw new InfluxQlError(
        `InfluxQL query to ${url} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
        response.status,
        { cause: err },
      );
    }
    const error = body.error ?? body.results?.[0]?.error;
    if (!response.ok || error) {
      throw new InfluxQlError(
        `InfluxQL query to ${url} (db '${database}') failed with ${response.status}: ${error ?? text.slice(0, 200)}`,
        response.status,
      );
    }
    return body.results?.[0]?.series ?? [];
  }
}

/** Rows of a series as objects keyed by column name. */
export function rowsOf(series: InfluxQlSeries): Record<string, unknown>[] {
  return series.values.map((values) => {
    const row: Record<string, unknown> = {};
    series.columns.forEach((column, index) => {
      row[column] = values[index];
    });
    return row;
  });
}
