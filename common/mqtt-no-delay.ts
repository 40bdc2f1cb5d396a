/**
 * Nagle's algorithm off on an MQTT client's socket (issue 19). mqtt.js opens its TCP and TLS
 * sockets with Node's default, Nagle on: a small packet (an alarm, a PUBACK) written while an
 * earlier segment (a telemetry batch) is still unacknowledged waits for that ACK, and the peer
 * delays its ACK by up to ~40 ms (Linux delayed ACK). The e2e bench showed it as a
 * published → server_received tail of ~28 ms p99 with no telemetry load at all. The embedded
 * broker already sets it on its side (server/broker.ts).
 *
 * Lifecycle: call once after `mqtt.connect()`; it applies to every (re)connected socket until
 * the client ends. WebSocket streams have no such switch and are left as they are.
 */
import type { MqttClient } from 'mqtt';

export function sendMqttWithoutDelay(client: MqttClient): void {
  const apply = () => {
    const stream = client.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
    stream?.setNoDelay?.(true);
  };
  // The stream of the first connection exists once connect() returned; each reconnect makes a
  // new one before its CONNECT goes out, and 'connect' follows its CONNACK.
  apply();
  client.on('connect', apply);
}
