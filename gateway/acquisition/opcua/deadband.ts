/**
 * Which deadband a monitored item may carry, decided per item from the node itself.
 *
 * OPC UA Part 4 §7.22.2 (DataChangeFilter): an absolute or percent deadband applies only
 * to variables whose DataType is numeric (a subtype of Number); a server answers anything
 * else with BadFilterNotAllowed. Part 8 §6.2 (AnalogItemType): a percent deadband is a
 * fraction of the item's EURange property, so a node without EURange cannot take one
 * (BadMonitoredItemFilterUnsupported). Sending such a filter anyway gets the item
 * refused, so the gateway reads each node's DataType (and for percent, looks up its
 * EURange) before creating the items, and sends the filter only where it can apply.
 * A configured deadband that cannot apply is dropped for that item with one log line:
 * the value is still acquired, only without the filter.
 */
import type { ClientSession } from 'node-opcua';
import type { OpcuaDeadbandConfig, OpcuaTagConfig } from '../../config/types.js';

type OpcuaModule = typeof import('node-opcua');

/** Namespace-0 DataType ids (OPC UA Part 6 §5.1.2, Part 3 §8) that are numeric. */
const NUMERIC_DATA_TYPES = new Set([
  2, // SByte
  3, // Byte
  4, // Int16
  5, // UInt16
  6, // Int32
  7, // UInt32
  8, // Int64
  9, // UInt64
  10, // Float
  11, // Double
  26, // Number
  27, // Integer
  28, // UInteger
  50, // Decimal
  289, // Counter (UInt32)
  290, // Duration (Double)
]);

/** Namespace-0 DataType ids that are certainly not numeric (no deadband possible). */
const NON_NUMERIC_DATA_TYPES = new Set([
  1, // Boolean
  12, // String
  13, // DateTime
  14, // Guid
  15, // ByteString
  16, // XmlElement
  17, // NodeId
  20, // QualifiedName
  21, // LocalizedText
  22, // Structure
  29, // Enumeration
  294, // UtcTime
]);

/** Names of the namespace-0 DataTypes above, for log lines an engineer reads. */
const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'Boolean',
  12: 'String',
  13: 'DateTime',
  14: 'Guid',
  15: 'ByteString',
  16: 'XmlElement',
  17: 'NodeId',
  20: 'QualifiedName',
  21: 'LocalizedText',
  22: 'Structure',
  29: 'Enumeration',
  294: 'UtcTime',
};

function describeDataType(id: { namespace: number; value: unknown } | undefined): string {
  if (!id) return 'unknown';
  const name =
    id.namespace === 0 && typeof id.value === 'number' ? DATA_TYPE_NAMES[id.value] : undefined;
  return name ?? `ns=${id.namespace};i=${String(id.value)}`;
}

/** Variant built-in types (node-opcua DataType enum values) that carry numbers. */
const NUMERIC_VARIANT_TYPES = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

/** The filter an item gets, and why a configured deadband was left out. */
export interface DeadbandPlan {
  /** The deadband to send; undefined for none. */
  deadband?: OpcuaDeadbandConfig;
  /** Why the configured deadband is not sent for this item (logged once). */
  dropped?: string;
}

/** The deadband a tag asks for (its own, else the device's); undefined for none. */
export function configuredDeadband(
  tag: OpcuaTagConfig,
  deviceDeadband: OpcuaDeadbandConfig | undefined,
): OpcuaDeadbandConfig | undefined {
  const deadband = tag.deadband ?? deviceDeadband;
  return deadband && deadband.type !== 'none' && deadband.value !== undefined
    ? deadband
    : undefined;
}

/**
 * Decides whether a node is numeric from its DataType attribute, falling back to the
 * built-in type of its current value for DataTypes outside namespace 0's well-known
 * ones (a vendor's subtype of Double, say). undefined when neither tells.
 */
export function isNumericNode(
  dataTypeId: { namespace: number; value: unknown } | undefined,
  valueVariantType: number | undefined,
): boolean | undefined {
  if (dataTypeId && dataTypeId.namespace === 0 && typeof dataTypeId.value === 'number') {
    if (NUMERIC_DATA_TYPES.has(dataTypeId.value)) return true;
    if (NON_NUMERIC_DATA_TYPES.has(dataTypeId.value)) return false;
  }
  if (valueVariantType === undefined || valueVariantType === 0) return undefined;
  return NUMERIC_VARIANT_TYPES.has(valueVariantType);
}

/**
 * Plans the deadband of every tag: reads DataType and Value of the tags that ask for a
 * deadband (one Read), and looks up the EURange of those asking for percent. Tags
 * without a deadband cost nothing. A node that cannot be read (BadNodeIdUnknown) keeps
 * its deadband only if it is absolute: the item will be refused for the node anyway
 * and retried, and planned again once it exists.
 */
export async function planDeadbands(
  opcua: OpcuaModule,
  session: ClientSession,
  tags: readonly OpcuaTagConfig[],
  deviceDeadband: OpcuaDeadbandConfig | undefined,
): Promise<Map<string, DeadbandPlan>> {
  const plans = new Map<string, DeadbandPlan>();
  const asking = tags.filter((tag) => configuredDeadband(tag, deviceDeadband) !== undefined);
  for (const tag of tags) if (!asking.includes(tag)) plans.set(tag.sensorId, {});
  if (asking.length === 0) return plans;

  const values = await session.read(
    asking.flatMap((tag) => [
      { nodeId: tag.nodeId, attributeId: opcua.AttributeIds.DataType },
      { nodeId: tag.nodeId, attributeId: opcua.AttributeIds.Value },
    ]),
  );
  const percent = asking.filter(
    (tag) => configuredDeadband(tag, deviceDeadband)?.type === 'percent',
  );
  const euRanges = new Map<string, boolean>();
  if (percent.length > 0) {
    const results = await session.translateBrowsePath(
      percent.map((tag) => opcua.makeBrowsePath(tag.nodeId, '.EURange')),
    );
    percent.forEach((tag, i) => {
      const status = results[i]?.statusCode;
      euRanges.set(tag.sensorId, status !== undefined && status.value === 0);
    });
  }

  asking.forEach((tag, i) => {
    const deadband = configuredDeadband(tag, deviceDeadband)!;
    const typeValue = values[2 * i];
    const value = values[2 * i + 1];
    const typeKnown = typeValue !== undefined && typeValue.statusCode.value === 0;
    const dataTypeId = typeKnown
      ? (typeValue.value.value as { namespace: number; value: unknown })
      : undefined;
    const variantType =
      value !== undefined && value.statusCode.value < 0x80000000
        ? value.value?.dataType
        : undefined;
    const numeric = isNumericNode(dataTypeId, variantType);
    if (numeric === false) {
      plans.set(tag.sensorId, {
        dropped: `deadband ${deadband.type} needs a numeric DataType (OPC UA Part 4 §7.22.2); node ${tag.nodeId} has DataType ${describeDataType(dataTypeId)}`,
      });
      return;
    }
    if (numeric === undefined && !typeKnown) {
      // Unreadable node: the item will be refused and planned again when retried.
      plans.set(tag.sensorId, deadband.type === 'absolute' ? { deadband } : {});
      return;
    }
    if (deadband.type === 'percent' && !euRanges.get(tag.sensorId)) {
      plans.set(tag.sensorId, {
        dropped: `deadband percent needs an EURange property (OPC UA Part 8 §6.2); node ${tag.nodeId} has none`,
      });
      return;
    }
    plans.set(tag.sensorId, { deadband });
  });
  return plans;
}

/** Statuses with which a server refuses an item because of its filter, not its node. */
export const FILTER_REFUSED =
  /BadFilterNotAllowed|BadDeadbandFilterInvalid|BadMonitoredItemFilterUnsupported|BadMonitoredItemFilterInvalid/;
