import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EdgekeError } from '../errors.ts';

/** No Python interpreter with the training toolkit's packages: `edgeke train` says which it tried and how to fix it. */
export class TrainingToolkitError extends EdgekeError {
  constructor(message: string) {
    super('EDGEKE_TRAINING_TOOLKIT', message, false);
  }
}

const REQUIRED = ['torch', 'onnx', 'numpy', 'PIL', 'matplotlib'];

/**
 * The interpreter that runs training/: EDGEKE_PYTHON when set (and then only it), else /usr/bin/python3, else
 * python3 on PATH, the first that imports the toolkit's packages from `toolkitRoot`.
 */
export async function findTrainingPython(env: NodeJS.ProcessEnv, toolkitRoot: string): Promise<string> {
  const candidates = env.EDGEKE_PYTHON !== undefined && env.EDGEKE_PYTHON !== '' ? [env.EDGEKE_PYTHON] : ['/usr/bin/python3', 'python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    try {
      await promisify(execFile)(python, ['-c', `import ${REQUIRED.join(', ')}, training`], { cwd: toolkitRoot, timeout: 60_000 });
      return python;
    } catch (error) {
      const detail = (error as { stderr?: string }).stderr?.trim().split('\n').at(-1) ?? (error as Error).message;
      tried.push(`${python} (${detail})`);
    }
  }
  throw new TrainingToolkitError(
    `no Python for the training toolkit: tried ${tried.join('; ')}. It needs Python 3 with ${REQUIRED.join(', ')} ` +
      `(PyTorch 1.13+; scipy only for floating-point .wav): set EDGEKE_PYTHON to such an interpreter (see training/README.md).`,
  );
}
