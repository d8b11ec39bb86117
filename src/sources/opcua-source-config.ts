/**
 * The `source: { kind: opcua }` block of a flow file: its zod piece (composed in src/flows/schema.ts), its type and
 * its defaults.
 */
import { z } from 'zod';
import { doc, positiveInt, refineWith, urlWithScheme } from '../config/field-doc.ts';
import { nodeIdProblem } from '../config/syntax.ts';

/** What the flow schema fills in for an OPC UA source block that leaves these out. */
export const OPCUA_SOURCE_DEFAULTS = {
  samplingIntervalMs: 100,
  queueSize: 100,
  securityMode: 'None',
  securityPolicy: 'None',
  certificateStore: './pki',
  window: { by: 'count', samples: 2048 },
} as const;

/** Defaults of a window block that names only its `by`. */
export const OPCUA_WINDOW_DEFAULTS = { samples: 2048, ms: 1000 } as const;

export const opcuaWindowSchema = z.discriminatedUnion('by', [
  z
    .object({
      by: doc(z.literal('count'), 'Close a window after a fixed number of samples.', 'count'),
      samples: doc(positiveInt().default(OPCUA_WINDOW_DEFAULTS.samples), 'Samples per window (should equal the model input length).', 2048),
    })
    .strict(),
  z
    .object({
      by: doc(z.literal('time'), 'Close a window after a fixed time span.', 'time'),
      ms: doc(z.number().positive().default(OPCUA_WINDOW_DEFAULTS.ms), 'Window length in milliseconds.', 170),
    })
    .strict(),
]);

const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

export const opcuaSourceSchema = z
  .object({
    kind: doc(z.literal('opcua'), 'Monitor variables of an OPC UA server.', 'opcua'),
    endpoint: doc(urlWithScheme(['opc.tcp']), 'Server endpoint URL.', 'opc.tcp://127.0.0.1:4840/edgeke'),
    nodeIds: doc(
      z.array(z.string().superRefine(refineWith(nodeIdProblem))).min(1),
      'Variables to monitor (scalars or sample blocks); the samples of each variable are joined, in order, into its own windows (one frame per window).',
      ['ns=1;s=Bearing.DriveEnd.Acceleration'],
    ),
    samplingIntervalMs: doc(z.number().nonnegative().default(OPCUA_SOURCE_DEFAULTS.samplingIntervalMs), 'Requested sampling interval of each monitored item (0 = fastest).', 100),
    queueSize: doc(positiveInt().default(OPCUA_SOURCE_DEFAULTS.queueSize), 'Server-side queue of each monitored item, so no change is lost between publishes.', 100),
    securityMode: doc(z.enum(['None', 'Sign', 'SignAndEncrypt']).default(OPCUA_SOURCE_DEFAULTS.securityMode), 'Message security mode.', 'SignAndEncrypt'),
    securityPolicy: doc(z.enum(SECURITY_POLICIES).default(OPCUA_SOURCE_DEFAULTS.securityPolicy), 'Security policy (None only with securityMode None).', 'Basic256Sha256'),
    certificateStore: doc(z.string().min(1).default(OPCUA_SOURCE_DEFAULTS.certificateStore), 'Folder of the client certificate store (PKI); created if missing.', './pki'),
    username: doc(z.string().min(1).optional(), 'User name for user-token authentication (anonymous when absent).', '${OPCUA_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'Password; must be written as ${ENV_VAR}.', '${OPCUA_PASSWORD}', { secret: true }),
    window: doc(
      opcuaWindowSchema.default({ ...OPCUA_SOURCE_DEFAULTS.window }),
      'How samples are joined into one frame: by count or by time.',
      { by: 'count', samples: 2048 },
    ),
  })
  .strict()
  .superRefine((source, ctx) => {
    if ((source.securityMode === 'None') !== (source.securityPolicy === 'None')) {
      ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: "securityMode None goes with securityPolicy None, and only with it" });
    }
    if ((source.username === undefined) !== (source.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'username and password go together' });
    }
  });

export type OpcuaWindowConfig = z.infer<typeof opcuaWindowSchema>;
export type OpcuaSourceConfig = z.infer<typeof opcuaSourceSchema>;
