import { UsageError, type OptionValues } from '../core/command.ts';
import { ENGINE_NAMES, type EngineName } from '../model/engines/engine.ts';

/** Option parsing shared by `edgeke profile`, `edgeke eval` and the runtime benchmark. */

export function engineOption(values: OptionValues): EngineName {
  const value = values.engine ?? 'onnx';
  if (typeof value !== 'string' || !ENGINE_NAMES.includes(value as EngineName)) {
    throw new UsageError(`--engine must be one of ${ENGINE_NAMES.join(', ')}`);
  }
  return value as EngineName;
}

export function positiveIntOption(values: OptionValues, name: string, fallback: number): number {
  const value = values[name];
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer`);
  return n;
}
