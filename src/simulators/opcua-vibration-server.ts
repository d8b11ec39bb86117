import { hostname as osHostname } from 'node:os';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  VariantArrayType,
  type UAVariable,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { VibrationRecording } from './cwru-recordings.ts';
import { freeTcpPort } from './free-tcp-port.ts';
import { VibrationPlayer } from './vibration-player.ts';

/**
 * Node ids the simulator exposes (namespace 1, the server's own; the example flow flows/cwru-opcua.yaml uses them):
 * - `ns=1;s=Bearing.DriveEnd.Acceleration`: Float[] — the latest block of drive-end acceleration (g); its source
 *   timestamp is the time of the block's first sample.
 * - `ns=1;s=Bearing.DriveEnd.Rms`: Double — RMS of each block, a slow scalar tag (one value per block).
 * - `ns=1;s=Bearing.TrueClass`: String — class name of the recording now playing (for scoring the demo).
 * - `ns=1;s=Bearing.TrueLabel`: Int32 — its class index.
 * - `ns=1;s=Bearing.SampleRateHz`: Double.
 */
export const VIBRATION_NODE_IDS = {
  signal: 'ns=1;s=Bearing.DriveEnd.Acceleration',
  rms: 'ns=1;s=Bearing.DriveEnd.Rms',
  trueClass: 'ns=1;s=Bearing.TrueClass',
  trueLabel: 'ns=1;s=Bearing.TrueLabel',
  sampleRateHz: 'ns=1;s=Bearing.SampleRateHz',
} as const;

export interface OpcuaVibrationServerOptions {
  /** Played in order, cycling (see interleaveByClass to alternate classes). */
  recordings: VibrationRecording[];
  sampleRateHz?: number;
  /** Samples per block (default 1,200: 100 ms at 12 kHz). */
  blockSize?: number;
  /** Samples played from each recording before switching (default: each recording once through). */
  holdSamples?: number;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Address to listen on (default 127.0.0.1; 0.0.0.0 in a container). */
  host?: string;
  /** Host name advertised in the endpoint URL (default: host, or the machine's name when host is 0.0.0.0). */
  hostname?: string;
  /** Endpoint path (default '/edgeke', as in the example flows). */
  resourcePath?: string;
  /** Accounts for user-name authentication (anonymous access stays allowed). */
  users?: Array<{ username: string; password: string }>;
  /** Folder for the server's own certificate and trust lists (created on first start; keep it to start fast). */
  certificateStore?: string;
  now?: () => number;
  logger?: Logger;
}

export interface OpcuaVibrationServer {
  /** opc.tcp:// URL of the endpoint. */
  readonly endpoint: string;
  readonly nodeIds: typeof VIBRATION_NODE_IDS;
  /** Class of the recording now playing. */
  currentClass: () => { label: number; className: string };
  /** Number of blocks published so far. */
  blocksPublished: () => number;
  stop: () => Promise<void>;
}

/**
 * A node-opcua server that plays CWRU vibration recordings as a live 12 kHz signal: a Float array variable gets one
 * block per `blockSize / sampleRate` seconds (blocks due since start are published on each tick, so the rate does
 * not drift with timer jitter), cycling through recordings of different fault classes.
 */
export async function startOpcuaVibrationServer(options: OpcuaVibrationServerOptions): Promise<OpcuaVibrationServer> {
  const sampleRateHz = options.sampleRateHz ?? 12_000;
  const blockSize = options.blockSize ?? 1_200;
  const blockMs = (blockSize * 1_000) / sampleRateHz;
  const now = options.now ?? Date.now;
  const player = new VibrationPlayer({ recordings: options.recordings, blockSize, holdSamples: options.holdSamples });
  const host = options.host ?? '127.0.0.1';
  const hostname = options.hostname ?? (host === '0.0.0.0' || host === '::' ? osHostname() : host);
  const port = options.port === undefined || options.port === 0 ? await freeTcpPort(host) : options.port;

  const serverCertificateManager =
    options.certificateStore === undefined
      ? undefined
      : new OPCUACertificateManager({ rootFolder: options.certificateStore, automaticallyAcceptUnknownCertificate: true });
  const server = new OPCUAServer({
    port,
    hostname,
    host,
    resourcePath: options.resourcePath ?? '/edgeke',
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    allowAnonymous: true,
    serverCertificateManager,
    userManager: {
      isValidUser: (username: string, password: string) =>
        (options.users ?? []).some((user) => user.username === username && user.password === password),
    },
    buildInfo: { productName: 'EdgeKE vibration simulator', manufacturerName: 'EdgeKE' },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  if (addressSpace === null) throw new Error('OPC UA server has no address space after initialize');
  const namespace = addressSpace.getOwnNamespace();
  const device = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Bearing' });
  const signal: UAVariable = namespace.addVariable({
    componentOf: device,
    browseName: 'DriveEndAcceleration',
    nodeId: 's=Bearing.DriveEnd.Acceleration',
    dataType: DataType.Float,
    valueRank: 1,
    arrayDimensions: [blockSize],
    minimumSamplingInterval: 0,
  });
  const trueClass = namespace.addVariable({ componentOf: device, browseName: 'TrueClass', nodeId: 's=Bearing.TrueClass', dataType: DataType.String });
  const trueLabel = namespace.addVariable({ componentOf: device, browseName: 'TrueLabel', nodeId: 's=Bearing.TrueLabel', dataType: DataType.Int32 });
  const rate = namespace.addVariable({ componentOf: device, browseName: 'SampleRateHz', nodeId: 's=Bearing.SampleRateHz', dataType: DataType.Double });
  const rms = namespace.addVariable({ componentOf: device, browseName: 'DriveEndRms', nodeId: 's=Bearing.DriveEnd.Rms', dataType: DataType.Double });
  rate.setValueFromSource(new Variant({ dataType: DataType.Double, value: sampleRateHz }));

  let published = 0;
  let playing = { label: player.current.label, className: player.current.className };
  const publishLabel = (sourceTs: Date): void => {
    trueClass.setValueFromSource(new Variant({ dataType: DataType.String, value: playing.className }), StatusCodes.Good, sourceTs);
    trueLabel.setValueFromSource(new Variant({ dataType: DataType.Int32, value: playing.label }), StatusCodes.Good, sourceTs);
  };
  publishLabel(new Date(now()));

  await server.start();
  const endpoint = server.getEndpointUrl();
  const startedAt = now();
  const tick = (): void => {
    const due = Math.floor((now() - startedAt) / blockMs) + 1;
    while (published < due) {
      const block = player.nextBlock();
      const firstSampleTs = new Date(startedAt + block.index * blockMs);
      if (block.label !== playing.label || block.className !== playing.className) {
        playing = { label: block.label, className: block.className };
        publishLabel(firstSampleTs);
      }
      signal.setValueFromSource(
        new Variant({ dataType: DataType.Float, arrayType: VariantArrayType.Array, value: block.values }),
        StatusCodes.Good,
        firstSampleTs,
      );
      let sumOfSquares = 0;
      for (const value of block.values) sumOfSquares += value * value;
      rms.setValueFromSource(
        new Variant({ dataType: DataType.Double, value: Math.sqrt(sumOfSquares / block.values.length) }),
        StatusCodes.Good,
        firstSampleTs,
      );
      published += 1;
    }
  };
  tick();
  const timer = setInterval(tick, Math.max(1, Math.floor(blockMs / 2)));
  options.logger?.info({ endpoint, blockSize, sampleRateHz }, 'OPC UA vibration simulator started');

  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    nodeIds: VIBRATION_NODE_IDS,
    currentClass: () => ({ ...playing }),
    blocksPublished: () => published,
    stop: () => {
      stopped ??= (async () => {
        clearInterval(timer);
        await server.shutdown(0);
        options.logger?.info({ endpoint }, 'OPC UA vibration simulator stopped');
      })();
      return stopped;
    },
  };
}
