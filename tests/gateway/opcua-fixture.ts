/**
 * A node-opcua server configured to behave like the other stacks plants run (shared by
 * the OPC UA tests), plus a TCP proxy whose link can be cut:
 * - it revises the publishing interval up (a floor of `minPublishingIntervalMs`, as
 *   many embedded servers have) instead of granting 10 ms;
 * - it refuses a data-change deadband on non-numeric items with BadFilterNotAllowed and
 *   a percent deadband without EURange (node-opcua's own validate_filter.js does both,
 *   as OPC UA Part 4 §7.22.2 asks);
 * - it can refuse chosen monitored items outright (`refuseItems`, e.g.
 *   BadTooManyMonitoredItems as a server at its item limit answers) while still
 *   answering Read for them;
 * - a restart may come back without some nodes (`restart({ without })`), as a server
 *   whose configuration changed or that loads its address space late.
 *
 * Nodes (ns=1): Tank1.Temperature (Double, EURange 0..200), Tank1.Pressure (Double, no
 * EURange), Tank1.HighLevel (Boolean), Tank1.Mode (String), Tank1.Count (Int32).
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  MonitoredItemCreateResult,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  type StatusCode,
  Subscription,
  type UAVariable,
  Variant,
} from 'node-opcua';

export const NODE = {
  temperature: 'ns=1;s=Tank1.Temperature',
  pressure: 'ns=1;s=Tank1.Pressure',
  highLevel: 'ns=1;s=Tank1.HighLevel',
  mode: 'ns=1;s=Tank1.Mode',
  count: 'ns=1;s=Tank1.Count',
} as const;
export type NodeName = keyof typeof NODE;

const INITIAL: Record<NodeName, { dataType: DataType; value: number | boolean | string }> = {
  temperature: { dataType: DataType.Double, value: 21.5 },
  pressure: { dataType: DataType.Double, value: 101.3 },
  highLevel: { dataType: DataType.Boolean, value: false },
  mode: { dataType: DataType.String, value: 'auto' },
  count: { dataType: DataType.Int32, value: 7 },
};

/** nodeId string → status CreateMonitoredItems for it is answered with (always, or only with a filter). */
const refusals = new Map<string, { status: StatusCode; onlyWithFilter: boolean }>();
let patched = false;

/**
 * Wraps node-opcua's server-side item creation once per process so chosen items are
 * refused the way other stacks refuse them (node-opcua-server server_subscription.js
 * preCreateMonitoredItem returns { createResult } without a monitoredItem on refusal).
 */
function patchItemCreation(): void {
  if (patched) return;
  patched = true;
  const proto = Subscription.prototype as unknown as {
    preCreateMonitoredItem: (...args: unknown[]) => unknown;
  };
  const original = proto.preCreateMonitoredItem;
  proto.preCreateMonitoredItem = function (this: unknown, ...args: unknown[]) {
    const request = args[2] as {
      itemToMonitor: { nodeId: { toString(): string } };
      requestedParameters: { filter: unknown };
    };
    const refusal = refusals.get(request.itemToMonitor.nodeId.toString());
    if (refusal && (!refusal.onlyWithFilter || request.requestedParameters.filter)) {
      return {
        createResult: new MonitoredItemCreateResult({ statusCode: refusal.status }),
        monitoredItemCreateRequest: request,
      };
    }
    return original.apply(this, args);
  };
}

export interface OtherStackOptions {
  port: number;
  pkiRoot: string;
  /** Floor of the granted publishing interval (ms); default 250. */
  minPublishingIntervalMs?: number;
}

export interface OtherStackServer {
  readonly port: number;
  server: OPCUAServer;
  readonly variables: Partial<Record<NodeName, UAVariable>>;
  /** Sets a node's value with a fresh source timestamp. */
  set(name: NodeName, value: number | boolean | string): void;
  /** Refuses every future CreateMonitoredItems for `name` with `status` (Read still works). */
  refuseItems(name: NodeName, status: StatusCode): void;
  /** Refuses items for `name` that carry a filter with `status`, as a quirky stack might. */
  refuseFilters(name: NodeName, status: StatusCode): void;
  acceptItems(name: NodeName): void;
  /** Shuts down and starts again on the same port, optionally without some nodes. */
  restart(options?: { without?: NodeName[] }): Promise<void>;
  /** Adds a node that a restart left out. */
  addNode(name: NodeName): void;
  stop(): Promise<void>;
}

export async function startOtherStackServer(options: OtherStackOptions): Promise<OtherStackServer> {
  patchItemCreation();
  const previousFloor = Subscription.minimumPublishingInterval;
  Subscription.minimumPublishingInterval = options.minPublishingIntervalMs ?? 250;
  const values = new Map<NodeName, number | boolean | string>(
    Object.entries(INITIAL).map(([name, spec]) => [name as NodeName, spec.value]),
  );
  let server!: OPCUAServer;
  let variables: Partial<Record<NodeName, UAVariable>> = {};

  const addNode = (name: NodeName) => {
    const addressSpace = server.engine.addressSpace!;
    const namespace = addressSpace.getOwnNamespace();
    const spec = INITIAL[name];
    const variableOptions = {
      organizedBy: addressSpace.rootFolder.objects,
      browseName: `Tank1${name}`,
      nodeId: NODE[name].replace('ns=1;', ''),
      minimumSamplingInterval: 50,
      value: new Variant({ dataType: spec.dataType, value: values.get(name) }),
    };
    variables[name] =
      name === 'temperature'
        ? namespace.addAnalogDataItem({
            ...variableOptions,
            dataType: 'Double',
            engineeringUnitsRange: { low: 0, high: 200 },
          })
        : namespace.addVariable({ ...variableOptions, dataType: DataType[spec.dataType] });
  };

  const start = async (without: NodeName[] = []) => {
    mkdirSync(options.pkiRoot, { recursive: true });
    server = new OPCUAServer({
      port: options.port,
      hostname: '127.0.0.1',
      securityModes: [MessageSecurityMode.None],
      securityPolicies: [SecurityPolicy.None],
      serverCertificateManager: new OPCUACertificateManager({
        rootFolder: path.join(options.pkiRoot, 'server'),
        automaticallyAcceptUnknownCertificate: true,
      }),
      // Without this the server keeps user certificates in the per-user default folder.
      userCertificateManager: new OPCUACertificateManager({
        rootFolder: path.join(options.pkiRoot, 'user'),
      }),
    });
    await server.initialize();
    variables = {};
    for (const name of Object.keys(NODE) as NodeName[]) if (!without.includes(name)) addNode(name);
    await server.start();
  };

  await start();
  const handle: OtherStackServer = {
    port: options.port,
    get server() {
      return server;
    },
    get variables() {
      return variables;
    },
    set(name, value) {
      values.set(name, value);
      variables[name]?.setValueFromSource(new Variant({ dataType: INITIAL[name].dataType, value }));
    },
    refuseItems(name, status) {
      refusals.set(NODE[name], { status, onlyWithFilter: false });
    },
    refuseFilters(name, status) {
      refusals.set(NODE[name], { status, onlyWithFilter: true });
    },
    acceptItems(name) {
      refusals.delete(NODE[name]);
    },
    async restart(restartOptions = {}) {
      await server.shutdown(0);
      await start(restartOptions.without);
    },
    addNode,
    async stop() {
      await server.shutdown(0);
      for (const name of Object.keys(NODE) as NodeName[]) refusals.delete(NODE[name]);
      Subscription.minimumPublishingInterval = previousFloor;
    },
  };
  return handle;
}

/** A TCP proxy whose link can be cut (sockets destroyed, new connections refused). */
export async function cuttableProxy(targetPort: number) {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Polls `condition` every 20 ms (real servers run in real time). */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
