/**
 * The `policy` block of a flow file (how the exit controller chooses each frame's exit): its zod piece (composed in
 * src/flows/schema.ts), its type and its defaults.
 */
import { z } from 'zod';
import { doc, positiveInt } from '../config/field-doc.ts';
import { CONFIDENCE_LEVELS } from './model-view.ts';

export const CONFIDENCE_STOPS = ['none', ...CONFIDENCE_LEVELS] as const;

/** What the flow schema fills in for a policy block that leaves these out (`exit` has none: fixed mode needs it). */
export const POLICY_DEFAULTS = {
  mode: 'deadline',
  deadlineMs: 100,
  accuracyTarget: 0.95,
  confidenceStop: 'none',
  confidenceStopWhen: 'busy',
  vote: false,
  latePolicy: 'shed',
  riskQuantile: 0.95,
  cpuWeight: 1,
} as const;

export const policySchema = z
  .object({
    mode: doc(
      z.enum(['deadline', 'accuracy', 'fixed']).default(POLICY_DEFAULTS.mode),
      'deadline: deepest exit that fits the slack. accuracy: shallowest exit whose validated accuracy meets accuracyTarget. fixed: every frame runs exactly to `exit` (no confidence stop, never lowered); a frame that cannot make its deadline there follows latePolicy.',
      'deadline',
    ),
    exit: doc(
      positiveInt().optional(),
      "The exit every frame runs to in fixed mode (1 = the first; at most the model's exit count). Required with mode fixed, and only there.",
      2,
    ),
    deadlineMs: doc(z.number().positive().default(POLICY_DEFAULTS.deadlineMs), 'Deadline per frame, counted from its capture time, in milliseconds.', 50),
    accuracyTarget: doc(z.number().gt(0).max(1).default(POLICY_DEFAULTS.accuracyTarget), 'Accuracy target (0..1] in accuracy mode.', 0.97),
    confidenceStop: doc(
      // YAML reads 0.90 as the number 0.9: accept both spellings.
      z.preprocess((value) => (typeof value === 'number' ? value.toFixed(2) : value), z.enum(CONFIDENCE_STOPS)).default(POLICY_DEFAULTS.confidenceStop),
      "Stop at an exit once its confidence passes the threshold calibrated for this accuracy ('none' = never stop early).",
      '0.95',
    ),
    confidenceStopWhen: doc(
      z.enum(['busy', 'always']).default(POLICY_DEFAULTS.confidenceStopWhen),
      'busy: stop early only when the load leaves no time to run every frame to its preferred exit, and only where a stop buys more expected accuracy per millisecond than a shallower cap (an idle machine answers from the preferred exit, its most accurate). always: stop early on every frame (least work).',
      'busy',
    ),
    vote: doc(z.boolean().default(POLICY_DEFAULTS.vote), 'A frame that reaches the last exit without passing any threshold is answered by the weighted vote of all exits, where the manifest says the vote beat the last exit on such frames of the validation split (vote.byLevel; else over all frames).', false),
    latePolicy: doc(
      z.enum(['shed', 'answer-late']).default(POLICY_DEFAULTS.latePolicy),
      'When even exit 1 cannot meet the deadline: shed the frame, or answer from exit 1 and mark it late.',
      'answer-late',
    ),
    riskQuantile: doc(z.number().min(0.5).lt(1).default(POLICY_DEFAULTS.riskQuantile), 'Latency quantile the controller plans with (higher = fewer misses, shallower exits).', 0.95),
    cpuWeight: doc(
      z.number().positive().max(1_000).default(POLICY_DEFAULTS.cpuWeight),
      "When several models run in one process: each model is guaranteed weight / (sum of the running models' weights) of the CPU for its inference, however busy the others are (a model's weight is the largest of its flows'). Equal weights (the default) are a fair share; raise it for a flow whose deadlines matter most. Live: applies from the next batch.",
      4,
    ),
  })
  .strict()
  .superRefine((policy, ctx) => {
    if (policy.mode === 'fixed' && policy.exit === undefined) {
      ctx.addIssue({ code: 'custom', path: ['exit'], message: 'required with mode fixed: the exit every frame runs to' });
    }
    if (policy.mode !== 'fixed' && policy.exit !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['exit'], message: `applies only with mode fixed (mode is ${policy.mode}): remove it or set mode: fixed` });
    }
  });

export type PolicyConfig = z.infer<typeof policySchema>;
