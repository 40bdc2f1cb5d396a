import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';

describe('metrics and API documentation', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
  });

  afterEach(async () => {
    await h.stop();
  });

  it('exposes Prometheus counters for ingest, rejects, alarms and linkage', async () => {
    await h.raise('ent-a');
    const response = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain; version=0.0.4');
    const text = response.body;
    expect(text).toContain('# TYPE hazardwatch_ingest_readings_total counter');
    expect(text).toMatch(/^hazardwatch_ingest_readings_total 4$/m);
    expect(text).toMatch(/^hazardwatch_alarms_active 1$/m);
    expect(text).toMatch(/^hazardwatch_ingest_rejected_total\{reason="schema"\} 0$/m);
    expect(text).toMatch(/^hazardwatch_linkage_deliveries\{state="pending"\} 0$/m);
    expect(text).toContain('hazardwatch_escalations_total 0');
    expect(text).not.toMatch(/^hazardwatch_ledger_verified /m); // no self-check yet
    await h.platform.integrity.anchorNow();
    await h.platform.integrity.verifyNow();
    const after = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(after).toMatch(/^hazardwatch_ledger_verified 1$/m);
    expect(after).toMatch(/^hazardwatch_ledger_anchors_total 1$/m);
    expect(after).toMatch(/^hazardwatch_ledger_verify_failures_total 0$/m);
    // Every sample line is `name{labels} value`.
    for (const line of text.trim().split('\n')) {
      if (!line.startsWith('#')) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?$/);
    }
  });

  it('serves an OpenAPI 3 document built from the route schemas, and an index page', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json() as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown; requestBody?: unknown }>>;
    };
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/health',
        '/api/v1/alarms',
        '/api/v1/auth/login',
        '/api/v1/enterprises/{id}',
        '/api/v1/alarms/{enterpriseId}/{gatewayId}/{alarmId}/acknowledge',
        '/api/v1/ledger/verify',
        '/metrics',
      ]),
    );
    expect(
      doc.paths['/api/v1/alarms/{enterpriseId}/{gatewayId}/{alarmId}/close']?.post?.requestBody,
    ).toBeDefined();
    expect(doc.paths['/api/v1/enterprises']?.get?.security).toEqual([{ bearer: [] }]);
    const page = await h.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('/api/v1/enterprises/{id}');
  });
});
