/**
 * Issue 19: the uplink's alarms waited for Nagle. mqtt.js opens its socket with Nagle on, so an
 * alarm written while a telemetry batch's segment was still unacknowledged waited for the
 * broker's delayed ACK (up to ~40 ms on Linux): the e2e bench's published → server_received
 * hop had a ~28 ms p99 with no load at all. The uplink now turns Nagle off on every socket it
 * connects, and the generated mosquitto configuration does the same on the broker's side.
 */
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mosquittoConf } from '../../server/auth/mosquitto-files.js';
import { startTestBroker } from '../support/broker.js';
import { createUplink, tempDir, useCleanups, waitUntil } from './support.js';

describe('the uplink socket', () => {
  const cleanups = useCleanups();
  afterEach(() => vi.restoreAllMocks());

  it("the uplink's alarms waited for Nagle: every connection of the uplink has it off", async () => {
    const dir = tempDir(cleanups);
    const broker = await startTestBroker();
    cleanups.push(() => broker.close());
    const brokerPort = Number(new URL(broker.url).port);
    const noDelayToBroker: boolean[] = [];
    const setNoDelay = net.Socket.prototype.setNoDelay;
    vi.spyOn(net.Socket.prototype, 'setNoDelay').mockImplementation(function (
      this: net.Socket,
      noDelay?: boolean,
    ) {
      // The client's end: its remote port is the broker's (the broker's own end has it local).
      if (this.remotePort === brokerPort) noDelayToBroker.push(noDelay ?? true);
      return setNoDelay.call(this, noDelay);
    });
    const uplink = createUplink(broker.url, path.join(dir, 'outbox.db'), ['GT-101']);
    cleanups.push(() => uplink.stop());
    await uplink.start();
    await waitUntil(() => uplink.connected, 'the uplink to connect');

    expect(noDelayToBroker).toContain(true);
    expect(noDelayToBroker).not.toContain(false);
  });

  it('the generated mosquitto configuration turns Nagle off towards server nodes', () => {
    expect(mosquittoConf('/p', '/a').split('\n')).toContain('set_tcp_nodelay true');
  });
});
