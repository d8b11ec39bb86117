import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Two projects: `unit` (fakes and virtual time, no services) and `integration` (real Mosquitto, InfluxDB,
// node-opcua and the shipped models, started by test/global-setup.ts).
// Test workers are forked from this process and inherit its environment. glibc's malloc otherwise gives each thread
// that frees native buffers (MQTT payloads, ONNX Runtime outputs) an arena of its own, and RSS then creeps by tens
// of MiB with no memory held: the memory-bound tests measure RSS as the service runs in its container (Dockerfile).
process.env.MALLOC_ARENA_MAX ??= '2';
// InfluxDB sinks keep a write-ahead log per flow under the state folder (default .edgeke in the working directory):
// tests get a fresh one per run, so a log left by an earlier run is never replayed into this run's InfluxDB.
process.env.EDGEKE_STATE_DIR ??= mkdtempSync(join(tmpdir(), 'edgeke-test-state-'));

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // The machine has two cores; the services and models are shared, so run suites one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
