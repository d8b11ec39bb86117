import { parseFlowText, type LoadedFlow } from '../../src/flows/load.ts';

/** A validated flow from YAML text written by a test or benchmark; throws with every problem found. */
export function loadFlow(yaml: string, env: Record<string, string> = {}, file = 'test-flow.yaml'): LoadedFlow {
  const { flow, issues } = parseFlowText(yaml, file, env);
  if (flow === undefined) throw new Error(issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n'));
  return flow;
}
