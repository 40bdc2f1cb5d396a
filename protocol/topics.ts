/**
 * MQTT topic namespace shared by the gateway and the server. This module (with
 * payloads.ts) is the whole wire contract: neither side imports the other.
 *
 * Layout: `hazardwatch/v1/{enterpriseId}/{gatewayId}/{channel}`.
 * The version segment changes only on an incompatible payload change, so a
 * server can serve v1 and v2 gateways side by side during a rollout.
 */

export const TOPIC_ROOT = 'hazardwatch';
export const PROTOCOL_VERSION = 1 as const;

/**
 * A connected gateway repeats its retained 'online' status this often; the
 * server declares it stale after two missed heartbeats (store-and-forward issue).
 */
export const STATUS_HEARTBEAT_MS = 15_000; // 15 s

/** Channels a gateway publishes on. */
export const GATEWAY_CHANNELS = ['telemetry', 'alarm', 'status'] as const;
/** Channels the server publishes on, for one gateway. */
export const SERVER_CHANNELS = ['ack', 'command'] as const;

export type GatewayChannel = (typeof GATEWAY_CHANNELS)[number];
export type ServerChannel = (typeof SERVER_CHANNELS)[number];
export type Channel = GatewayChannel | ServerChannel;

/**
 * Identifiers that appear in topics: no MQTT wildcards (`+`, `#`), no `/`,
 * no `$` (reserved for broker topics, [MQTT-4.7.2-1]), bounded length.
 */
export const ID_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';
const idRegex = new RegExp(ID_PATTERN);

export function isValidId(id: string): boolean {
  return idRegex.test(id);
}

export function topicFor(enterpriseId: string, gatewayId: string, channel: Channel): string {
  if (!isValidId(enterpriseId)) throw new Error(`invalid enterpriseId '${enterpriseId}'`);
  if (!isValidId(gatewayId)) throw new Error(`invalid gatewayId '${gatewayId}'`);
  return `${TOPIC_ROOT}/v${PROTOCOL_VERSION}/${enterpriseId}/${gatewayId}/${channel}`;
}

/** Subscription filter for every gateway's channel, as the server uses it. */
export function allGatewaysFilter(channel: GatewayChannel): string {
  return `${TOPIC_ROOT}/v${PROTOCOL_VERSION}/+/+/${channel}`;
}

export interface ParsedTopic {
  enterpriseId: string;
  gatewayId: string;
  channel: Channel;
}

/**
 * `hazardwatch/v<N>/<enterprise>/<gateway>/<channel>` with valid ids and a channel among
 * `channels`, or null. The one parser of both namespaces (gateway data and fleet).
 */
function parseGatewayTopic<C extends string>(
  topic: string,
  channels: readonly C[],
): { enterpriseId: string; gatewayId: string; channel: C } | null {
  const parts = topic.split('/');
  if (parts.length !== 5) return null;
  const [root, version, enterpriseId, gatewayId, channel] = parts as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (root !== TOPIC_ROOT || version !== `v${PROTOCOL_VERSION}`) return null;
  if (!isValidId(enterpriseId) || !isValidId(gatewayId)) return null;
  if (!(channels as readonly string[]).includes(channel)) return null;
  return { enterpriseId, gatewayId, channel: channel as C };
}

const DATA_CHANNELS: readonly Channel[] = [...GATEWAY_CHANNELS, ...SERVER_CHANNELS];

/** Parses a topic of this namespace; returns null for anything else. */
export function parseTopic(topic: string): ParsedTopic | null {
  return parseGatewayTopic(topic, DATA_CHANNELS);
}

/**
 * Fleet management (docs/fleet.md), kept apart from GATEWAY_CHANNELS and parseTopic so that
 * ingest and older gateways never see them. A gateway's fleet agent holds its own MQTT
 * connection with client id {@link fleetClientId}; it publishes `health`, `config-status` and
 * `fleet-result`, and subscribes to `config` (retained: the version it should run) and
 * `fleet-command`.
 */
export const FLEET_GATEWAY_CHANNELS = ['health', 'config-status', 'fleet-result'] as const;
export const FLEET_SERVER_CHANNELS = ['config', 'fleet-command'] as const;
export type FleetChannel =
  | (typeof FLEET_GATEWAY_CHANNELS)[number]
  | (typeof FLEET_SERVER_CHANNELS)[number];

const FLEET_CHANNELS: readonly FleetChannel[] = [
  ...FLEET_GATEWAY_CHANNELS,
  ...FLEET_SERVER_CHANNELS,
];

/** `:` is outside ID_PATTERN, so a fleet client id never equals another gateway's id. */
export const FLEET_CLIENT_SUFFIX = ':fleet';

export function fleetClientId(gatewayId: string): string {
  return `${gatewayId}${FLEET_CLIENT_SUFFIX}`;
}

export function fleetTopicFor(
  enterpriseId: string,
  gatewayId: string,
  channel: FleetChannel,
): string {
  if (!isValidId(enterpriseId)) throw new Error(`invalid enterpriseId '${enterpriseId}'`);
  if (!isValidId(gatewayId)) throw new Error(`invalid gatewayId '${gatewayId}'`);
  return `${TOPIC_ROOT}/v${PROTOCOL_VERSION}/${enterpriseId}/${gatewayId}/${channel}`;
}

/** Parses a fleet topic; returns null for anything else (including the telemetry channels). */
export function parseFleetTopic(
  topic: string,
): { enterpriseId: string; gatewayId: string; channel: FleetChannel } | null {
  return parseGatewayTopic(topic, FLEET_CHANNELS);
}
