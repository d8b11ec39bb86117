import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

// Static checks of the compose stack (no Docker here): every mounted or copied path exists, ports and service names
// agree across docker-compose.yml, the Dockerfile, the Mosquitto config and the Grafana datasource, and every
// ${VAR} the flow files reference is set for the containers that run them.

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  hostname?: string;
  profiles?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}

const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;

function service(name: string): Service {
  const found = services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

function env(name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, String(value)]));
}

/** Bind mounts of a service: host path (relative to the repo) → container path. Named volumes are skipped. */
function bindMounts(name: string): { host: string; container: string }[] {
  return (service(name).volumes ?? [])
    .map((spec) => spec.split(':'))
    .filter(([host]) => host?.startsWith('./') === true)
    .map(([host, container]) => ({ host: posix.normalize(host ?? ''), container: container ?? '' }));
}

/** Where a container path of a service lives in the repo, through its bind mounts (longest mount wins). */
function hostPathOf(name: string, containerPath: string): string | undefined {
  const mounts = bindMounts(name).sort((a, b) => b.container.length - a.container.length);
  for (const mount of mounts) {
    if (containerPath === mount.container || containerPath.startsWith(`${mount.container}/`)) {
      return posix.join(mount.host, containerPath.slice(mount.container.length));
    }
  }
  return undefined;
}

function containerPorts(name: string): number[] {
  const published = (service(name).ports ?? []).map((spec) => Number(spec.split(':').at(-1)?.split('/')[0]));
  const exposed = (service(name).expose ?? []).map(Number);
  return [...published, ...exposed];
}

/** The Dockerfile's final stage and a few facts about all stages. */
function dockerfile() {
  const text = read('Dockerfile');
  // Join continuation lines so each instruction is one line.
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }
  return { text, lines, stages };
}

interface EnvReference {
  name: string;
  fallback?: string;
}

/** `${VAR}` and `${VAR:-default}` in a flow file (`$${` is an escaped literal). */
function envReferences(text: string): EnvReference[] {
  const references: EnvReference[] = [];
  for (const match of text.matchAll(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g)) {
    if (match[0].startsWith('$$')) continue;
    references.push(match[2] === undefined ? { name: match[1] ?? '' } : { name: match[1] ?? '', fallback: match[3] ?? '' });
  }
  return references;
}

function flowFiles(folder: string): string[] {
  if (!existsSync(join(ROOT, folder))) return [];
  return readdirSync(join(ROOT, folder))
    .filter((file) => /\.ya?ml$/.test(file))
    .map((file) => posix.join(folder, file));
}

/** Variables Docker sets in every container. */
const DOCKER_PROVIDED = new Set(['HOSTNAME', 'HOME', 'PATH']);

/** The flow folder a service runs (`edgeke run <folder>`), resolved to the repo through its mounts or the image. */
function flowFolderOf(name: string): string {
  const command = service(name).command ?? [];
  const folder = command[command.indexOf('run') + 1];
  if (folder === undefined) throw new Error(`${name} does not run a flow folder`);
  const inContainer = posix.join('/app', folder).replace(/\/$/, '');
  return hostPathOf(name, inContainer) ?? posix.normalize(folder).replace(/\/$/, '');
}

describe('docker-compose.yml', () => {
  it('has the broker, InfluxDB, Grafana, EdgeKE, the simulators and the scale-out workers', () => {
    expect(Object.keys(services).sort()).toEqual(['edgeke', 'edgeke-worker', 'grafana', 'influxdb', 'mosquitto', 'simulators']);
    expect(service('mosquitto').image).toMatch(/^eclipse-mosquitto:2/);
    expect(service('influxdb').image).toMatch(/^influxdb:1\.8/);
    expect(service('grafana').image).toMatch(/^grafana\/grafana(-oss)?:/);
    for (const name of ['edgeke', 'simulators', 'edgeke-worker']) {
      expect(service(name).build, name).toBe('.');
      expect(service(name).image, name).toBe('edgeke:local');
    }
    expect(service('edgeke').command?.slice(0, 4)).toEqual(['node', 'bin/edgeke.js', 'run', 'flows/']);
    expect(service('simulators').command?.slice(0, 4)).toEqual(['node', 'bin/edgeke.js', 'demo', '--simulators-only']);
  });

  it('mounts only paths that exist in the repo, and declares every named volume', () => {
    for (const [name, definition] of Object.entries(services)) {
      for (const spec of definition.volumes ?? []) {
        const [source] = spec.split(':');
        if (source?.startsWith('./') === true) {
          expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
        } else {
          expect(Object.keys(compose.volumes ?? {}), `${name}: named volume ${source}`).toContain(source);
        }
      }
    }
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    expect(existsSync(join(ROOT, '.dockerignore'))).toBe(true);
  });

  it('keeps Mosquitto on one port: its config, the published port and MQTT_URL', () => {
    const config = read(hostPathOf('mosquitto', '/mosquitto/config/mosquitto.conf') ?? 'missing');
    const listener = Number(/^listener\s+(\d+)/m.exec(config)?.[1]);
    expect(config).toMatch(/^persistence true$/m);
    const persistenceLocation = /^persistence_location\s+(\S+)/m.exec(config)?.[1] ?? '';
    expect(service('mosquitto').volumes?.some((spec) => persistenceLocation.startsWith(spec.split(':')[1] ?? '?'))).toBe(true);
    expect(containerPorts('mosquitto')).toContain(listener);
    for (const name of ['edgeke', 'simulators', 'edgeke-worker']) {
      const url = new URL(env(name).MQTT_URL ?? '');
      expect(`${url.hostname}:${url.port}`, name).toBe(`mosquitto:${listener}`);
    }
  });

  it('keeps InfluxDB consistent: port, database, the EdgeKE env and the Grafana datasource', () => {
    const influxEnv = env('influxdb');
    const datasourceFile = hostPathOf('grafana', '/etc/grafana/provisioning/datasources/influxdb.yaml') ?? 'missing';
    const datasource = (parseYaml(read(datasourceFile)) as { datasources: { url: string; jsonData: { dbName: string } }[] }).datasources[0];
    expect(containerPorts('influxdb')).toContain(8086);
    for (const name of ['edgeke', 'edgeke-worker']) {
      expect(env(name).INFLUX_URL, name).toBe('http://influxdb:8086');
      expect(env(name).INFLUX_DATABASE, name).toBe(influxEnv.INFLUXDB_DB);
    }
    expect(datasource?.url).toBe(env('edgeke').INFLUX_URL);
    expect(datasource?.jsonData.dbName).toBe(influxEnv.INFLUXDB_DB);
  });

  it('provisions Grafana from the repo: datasource, dashboard provider, dashboards and home dashboard', () => {
    const provider = parseYaml(read(hostPathOf('grafana', '/etc/grafana/provisioning/dashboards/edgeke.yaml') ?? 'missing')) as {
      providers: { type: string; options: { path: string } }[];
    };
    const dashboardsPath = provider.providers[0]?.options.path ?? '';
    const dashboardsHost = hostPathOf('grafana', dashboardsPath);
    expect(dashboardsHost).toBe('grafana/dashboards');
    const dashboards = readdirSync(join(ROOT, dashboardsHost ?? '')).filter((file) => file.endsWith('.json'));
    expect(dashboards.sort()).toEqual(['edgeke-flow.json', 'edgeke-overview.json']);
    const home = env('grafana').GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(existsSync(join(ROOT, hostPathOf('grafana', home) ?? 'missing'))).toBe(true);
    expect(containerPorts('grafana')).toContain(3000);
    expect(service('grafana').depends_on?.influxdb?.condition).toBe('service_healthy');
  });

  it('serves EdgeKE telemetry on the port the image exposes and health-checks', () => {
    const { text } = dockerfile();
    const port = Number(env('edgeke').EDGEKE_HTTP_PORT);
    expect(env('edgeke').EDGEKE_HTTP_HOST).toBe('0.0.0.0');
    expect(containerPorts('edgeke')).toContain(port);
    expect(containerPorts('edgeke-worker')).toContain(port);
    expect(text).toMatch(new RegExp(`^EXPOSE ${port}$`, 'm'));
    expect(text).toMatch(new RegExp(`EDGEKE_HTTP_PORT \\|\\| '${port}'`));
  });

  it('waits for healthy services only where a health check exists', () => {
    for (const [name, definition] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(definition.depends_on ?? {})) {
        expect(Object.keys(services), `${name} depends on ${dependency}`).toContain(dependency);
        if (condition === 'service_healthy') {
          const hasCheck = service(dependency).healthcheck?.test !== undefined || (service(dependency).build !== undefined && service(dependency).healthcheck?.disable !== true);
          expect(hasCheck, `${name} waits for ${dependency} to be healthy`).toBe(true);
        }
      }
    }
    expect(service('mosquitto').healthcheck?.test?.length).toBeGreaterThan(1);
    expect(service('influxdb').healthcheck?.test?.length).toBeGreaterThan(1);
  });

  it('points the OPC UA flows at the simulators host and port', () => {
    const endpoint = new URL(env('edgeke').OPCUA_ENDPOINT ?? '');
    expect(endpoint.hostname).toBe(service('simulators').hostname);
    expect(containerPorts('simulators')).toContain(Number(endpoint.port));
  });

  it('runs several workers on a shared subscription in the scale-out profile', () => {
    const worker = service('edgeke-worker');
    expect(worker.profiles).toEqual(['scale-out']);
    expect(worker.deploy?.replicas).toBeGreaterThan(1);
    expect(worker.ports ?? [], 'replicas cannot share a published port').toEqual([]);
    const files = flowFiles(flowFolderOf('edgeke-worker'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const flow = parseYaml(read(file)) as { source: { kind: string; sharedGroup?: string; clientId?: string } };
      expect(flow.source.kind, file).toBe('mqtt');
      expect(flow.source.sharedGroup, file).toMatch(/^[^/+#]+$/);
      // One client id per replica, or the broker would disconnect each replica when the next one connects.
      expect(flow.source.clientId, file).toContain('${HOSTNAME}');
    }
  });

  it.each(['edgeke', 'edgeke-worker'])('%s sets every variable its flow files need, with container addresses', (name) => {
    const files = flowFiles(flowFolderOf(name));
    const environment = env(name);
    const serviceNames = new Set(Object.keys(services));
    expect(files.length, `${name} runs no flow file`).toBeGreaterThan(0);
    expect(files.flatMap((file) => envReferences(read(file))).length).toBeGreaterThan(0);
    for (const file of files) {
      for (const reference of envReferences(read(file))) {
        const where = `${file}: \${${reference.name}}`;
        if (reference.fallback === undefined) {
          expect(environment[reference.name] !== undefined || DOCKER_PROVIDED.has(reference.name), `${where} is not set for ${name}`).toBe(true);
        }
        // A default on the loopback address means "this machine", which inside a container is the container itself.
        if (reference.fallback !== undefined && /127\.0\.0\.1|localhost/.test(reference.fallback)) {
          const value = environment[reference.name];
          expect(value, `${where} must be set for ${name} (its default ${reference.fallback} is the container)`).toBeDefined();
          expect(serviceNames.has(new URL(value ?? 'x://missing').hostname), `${where}=${value} names a compose service`).toBe(true);
        }
      }
    }
  });
});

describe('Dockerfile', () => {
  it('builds in stages from a pinned Node LTS release (bookworm-slim) with npm ci', () => {
    const { stages, text } = dockerfile();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const tag = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-bookworm-slim$/m.exec(text);
    expect(tag, 'NODE_IMAGE pins node:<major>.<minor>.<patch>-bookworm-slim').not.toBeNull();
    const major = Number(tag?.[1]);
    // Even majors become LTS; end of life per https://nodejs.org/en/about/previous-releases. Past that date this
    // test fails on purpose: move the image to the next LTS.
    const endOfLife: Record<number, string> = { 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };
    expect(Object.keys(endOfLife).map(Number), `node ${major} is not an LTS line this test knows`).toContain(major);
    expect(Date.now(), `node ${major} reached its end of life on ${endOfLife[major]}`).toBeLessThan(Date.parse(endOfLife[major] ?? '1970-01-01'));
    expect(stages.every((stage) => /^FROM \$\{NODE_IMAGE\}/.test(stage[0] ?? ''))).toBe(true);
    expect(stages[0]?.some((line) => /^RUN npm ci\b/.test(line))).toBe(true);
  });

  it('runs as a non-root user, with a health check on /healthz and the run command', () => {
    const runtime = dockerfile().stages.at(-1) ?? [];
    const users = runtime.filter((line) => /^USER\s/.test(line)).map((line) => line.split(/\s+/)[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0', '0:0']).not.toContain(users.at(-1));
    const healthcheck = runtime.find((line) => line.startsWith('HEALTHCHECK')) ?? '';
    expect(healthcheck).toContain('/healthz');
    expect(runtime.find((line) => line.startsWith('CMD'))).toBe('CMD ["node", "bin/edgeke.js", "run", "flows/"]');
    // Nothing after USER switches back to root.
    expect(runtime.slice(runtime.findIndex((line) => line.startsWith('USER'))).filter((line) => /^USER\s+(root|0)/.test(line))).toEqual([]);
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const { lines } = dockerfile();
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!'));
    const sources = lines
      .filter((line) => /^COPY\s/.test(line) && !line.includes('--from='))
      .flatMap((line) => line.replace(/--\S+/g, '').trim().split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
      expect(ignored.filter((pattern) => pattern === source || pattern === `${source}/` || source.startsWith(`${pattern}/`)), `COPY ${source} is ignored`).toEqual([]);
    }
    expect(statSync(join(ROOT, 'bin', 'edgeke.js')).isFile()).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Hardening: what the stack exposes, who may write, where secrets come from, pinned versions, graceful stops.

/**
 * Compose's variable interpolation: `$$` is a literal `$`; `${VAR}`, `${VAR:-default}`, `${VAR-default}`, and
 * `${VAR:?message}` / `${VAR?message}`, which make `docker compose` refuse to start while VAR is unset (or empty).
 */
function interpolate(text: string, variables: Record<string, string>): { text: string; missing: string[] } {
  const missing: string[] = [];
  const result = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])((?:[^}])*))?\}/g, (match, name: string | undefined, colon: string, kind: string, operand: string) => {
    if (match === '$$') return '$';
    const value = variables[name ?? ''];
    const unset = value === undefined || (colon === ':' && value === '');
    if (kind === '?' && unset) {
      missing.push(name ?? '');
      return '';
    }
    if (kind === '-' && unset) return operand;
    return value ?? '';
  });
  return { text: result, missing };
}

/** `${VAR:?...}` references in the compose file: what it refuses to start without. */
function requiredVariables(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?/g)].map((match) => match[1] ?? ''))].sort();
}

const COMPOSE_TEXT = read('docker-compose.yml');
const SECRET_NAME = /PASSWORD|SECRET|TOKEN/;

interface HardenedService extends Service {
  networks?: string[];
  tmpfs?: string[];
  entrypoint?: string[];
  stop_grace_period?: string;
}

/** The compose file as Docker would run it with `variables` in .env. */
function composeWith(variables: Record<string, string>): { services: Record<string, HardenedService>; networks: Record<string, { internal?: boolean } | null> } {
  const { text, missing } = interpolate(COMPOSE_TEXT, variables);
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}`);
  return parseYaml(text, { merge: true }) as { services: Record<string, HardenedService>; networks: Record<string, { internal?: boolean } | null> };
}

function envExample(): Map<string, string> {
  const entries = read('deploy/env.example')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return new Map(entries);
}

const SECRETS = Object.fromEntries(requiredVariables(COMPOSE_TEXT).map((name) => [name, `s3cret-${name.toLowerCase()}`]));

function seconds(duration: string | undefined): number {
  const match = /^(\d+)(ms|s|m)$/.exec(duration ?? '');
  if (match === null) return 0;
  return Number(match[1]) * ({ ms: 0.001, s: 1, m: 60 }[match[2] as 'ms' | 's' | 'm']);
}

describe('docker-compose.yml hardening', () => {
  it('takes every secret from the env file: compose refuses to start without them, and none has a default', () => {
    const required = requiredVariables(COMPOSE_TEXT);
    expect(required).toEqual(['GRAFANA_ADMIN_PASSWORD', 'INFLUX_EDGEKE_PASSWORD', 'INFLUX_GRAFANA_PASSWORD', 'MQTT_DEVICES_PASSWORD', 'MQTT_EDGEKE_PASSWORD']);
    expect(() => composeWith({}), 'starts with no .env').toThrow(/missing .*MQTT_EDGEKE_PASSWORD/);
    for (const name of required) {
      expect(() => composeWith({ ...SECRETS, [name]: '' }), `starts with ${name} empty`).toThrow(name);
      expect(COMPOSE_TEXT, `${name} has a default`).not.toMatch(new RegExp(`\\$\\{${name}:?-`));
    }
    // Every environment value that is a secret is a reference, never a literal.
    const raw = parseYaml(COMPOSE_TEXT, { merge: true }) as { services: Record<string, Service> };
    for (const [name, definition] of Object.entries(raw.services)) {
      for (const [key, value] of Object.entries(definition.environment ?? {})) {
        if (SECRET_NAME.test(key)) expect(String(value), `${name}: ${key}`).toMatch(/^\$\{[A-Z_0-9]+:\?[^}]+\}$/);
      }
    }
    // The example env file names exactly those, with no value; the real one never enters git or the image.
    const example = envExample();
    expect([...example.keys()].sort()).toEqual(required);
    expect([...example.values()].every((value) => value === '')).toBe(true);
    expect(read('.gitignore').split('\n')).toContain('.env');
    expect(read('.dockerignore').split('\n')).toContain('.env');
  });

  it('puts every service on an internal network and publishes only Grafana, the broker and EdgeKE, on 127.0.0.1 by default', () => {
    const { services: resolved, networks } = composeWith(SECRETS);
    const internal = Object.entries(networks).filter(([, network]) => network?.internal === true).map(([name]) => name);
    expect(internal).toEqual(['backend']);
    const published = Object.entries(resolved).filter(([, definition]) => (definition.ports ?? []).length > 0).map(([name]) => name).sort();
    expect(published).toEqual(['edgeke', 'grafana', 'mosquitto']);
    for (const [name, definition] of Object.entries(resolved)) {
      expect(definition.networks, name).toContain('backend');
      // A port is reachable only through a network with a route out; the others stay off it.
      const outward = (definition.networks ?? []).filter((network) => !internal.includes(network));
      expect(outward.length > 0, `${name} on a non-internal network`).toBe(published.includes(name));
      for (const spec of definition.ports ?? []) {
        const parts = spec.split(':');
        expect(parts, `${name}: ${spec} names its host address`).toHaveLength(3);
        expect(parts[0], `${name}: ${spec}`).toBe('127.0.0.1');
      }
    }
    expect(service('influxdb').ports ?? []).toEqual([]);
    // The bind address is one setting for all of them.
    const elsewhere = composeWith({ ...SECRETS, EDGEKE_BIND_ADDRESS: '10.0.0.5' }).services;
    for (const name of published) for (const spec of elsewhere[name]?.ports ?? []) expect(spec.startsWith('10.0.0.5:'), spec).toBe(true);
  });

  it('has the broker send each message at once (TCP_NODELAY): Nagle would hold frames to a late-acknowledging subscriber', () => {
    expect(read('deploy/mosquitto/mosquitto.conf')).toMatch(/^set_tcp_nodelay true$/m);
  });

  it('lets no anonymous client write to the broker: logins from the env file, an ACL per user', () => {
    const config = read('deploy/mosquitto/mosquitto.conf');
    expect(config).toMatch(/^allow_anonymous false$/m);
    expect(config).not.toMatch(/^allow_anonymous true$/m);
    const passwordFile = /^password_file\s+(\S+)/m.exec(config)?.[1] ?? '';
    const aclFile = /^acl_file\s+(\S+)/m.exec(config)?.[1] ?? '';
    const mosquitto = composeWith(SECRETS).services.mosquitto as HardenedService;
    // The password file is written at start (hashed) onto a tmpfs: never in the image, the repo or a volume.
    expect(mosquitto.tmpfs?.some((path) => passwordFile.startsWith(`${path}/`))).toBe(true);
    const acl = read(hostPathOf('mosquitto', aclFile) ?? 'missing');
    const aclLines = acl.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
    // ACL lines before the first `user` apply to anonymous clients; `pattern` lines apply to everyone.
    expect(aclLines[0]).toMatch(/^user\s/);
    expect(aclLines.filter((line) => line.startsWith('pattern'))).toEqual([]);
    const users = aclLines.filter((line) => line.startsWith('user ')).map((line) => line.split(/\s+/)[1]);
    expect(users.sort()).toEqual(['devices', 'edgeke']);
    const entrypoint = read(hostPathOf('mosquitto', mosquitto.entrypoint?.at(-1) ?? 'missing') ?? 'missing');
    for (const user of users) expect(entrypoint, `password for ${user}`).toMatch(new RegExp(`mosquitto_passwd -b "\\$passwd" ${user} "\\$MQTT_${user?.toUpperCase()}_PASSWORD"`));
    expect(entrypoint).toMatch(/^exec .*mosquitto -c \/mosquitto\/config\/mosquitto\.conf$/m);
    expect(Object.keys(mosquitto.environment ?? {}).sort()).toEqual(['MQTT_DEVICES_PASSWORD', 'MQTT_EDGEKE_PASSWORD']);
    // The clients log in as those users: EdgeKE (its flows read MQTT_USERNAME/MQTT_PASSWORD) and the devices.
    const resolved = composeWith(SECRETS).services;
    expect(resolved.edgeke?.environment).toMatchObject({ MQTT_USERNAME: 'edgeke', MQTT_PASSWORD: SECRETS.MQTT_EDGEKE_PASSWORD });
    expect(resolved['edgeke-worker']?.environment).toMatchObject({ MQTT_USERNAME: 'edgeke', MQTT_PASSWORD: SECRETS.MQTT_EDGEKE_PASSWORD });
    expect(resolved.simulators?.environment).toMatchObject({ MQTT_USERNAME: 'devices', MQTT_PASSWORD: SECRETS.MQTT_DEVICES_PASSWORD });
    for (const file of [...flowFiles(flowFolderOf('edgeke')), ...flowFiles(flowFolderOf('edgeke-worker'))]) {
      const flow = parseYaml(read(file)) as { source: { kind: string; username?: string; password?: string } };
      if (flow.source.kind === 'mqtt') expect([flow.source.username, flow.source.password], file).toEqual(['${MQTT_USERNAME:-}', '${MQTT_PASSWORD:-}']);
    }
    // The health check logs in too.
    expect(mosquitto.healthcheck?.test?.join(' ')).toContain('-u edgeke -P "$MQTT_EDGEKE_PASSWORD"');
  });

  it('has no default admin: InfluxDB requires logins, Grafana takes its admin from the env file, no sign-up', () => {
    const resolved = composeWith(SECRETS).services;
    expect(resolved.influxdb?.environment).toMatchObject({
      INFLUXDB_HTTP_AUTH_ENABLED: 'true',
      INFLUXDB_ADMIN_USER: 'edgeke',
      INFLUXDB_ADMIN_PASSWORD: SECRETS.INFLUX_EDGEKE_PASSWORD,
      INFLUXDB_READ_USER: 'grafana',
      INFLUXDB_READ_USER_PASSWORD: SECRETS.INFLUX_GRAFANA_PASSWORD,
    });
    expect(resolved.edgeke?.environment).toMatchObject({ INFLUX_USERNAME: 'edgeke', INFLUX_PASSWORD: SECRETS.INFLUX_EDGEKE_PASSWORD });
    for (const file of [...flowFiles(flowFolderOf('edgeke')), ...flowFiles(flowFolderOf('edgeke-worker'))]) {
      const flow = parseYaml(read(file)) as { sinks: { influx?: { username?: string; password?: string } } };
      if (flow.sinks.influx !== undefined) expect([flow.sinks.influx.username, flow.sinks.influx.password], file).toEqual(['${INFLUX_USERNAME:-}', '${INFLUX_PASSWORD:-}']);
    }
    const grafana = resolved.grafana?.environment ?? {};
    expect(grafana.GF_SECURITY_ADMIN_PASSWORD).toBe(SECRETS.GRAFANA_ADMIN_PASSWORD);
    expect(grafana.GF_SECURITY_ADMIN_USER).not.toBe('admin');
    expect(grafana.GF_USERS_ALLOW_SIGN_UP).toBe('false');
    expect(grafana.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    // Grafana reads InfluxDB as the read-only user, its password from the container's environment.
    const datasource = (parseYaml(read('grafana/provisioning/datasources/influxdb.yaml')) as { datasources: { user?: string; secureJsonData?: { password?: string } }[] }).datasources[0];
    expect(datasource?.user).toBe('grafana');
    expect(datasource?.secureJsonData?.password).toBe('${INFLUX_GRAFANA_PASSWORD}');
    expect(grafana.INFLUX_GRAFANA_PASSWORD).toBe(SECRETS.INFLUX_GRAFANA_PASSWORD);
    // And InfluxDB's health check has to log in now.
    expect(composeWith(SECRETS).services.influxdb?.healthcheck?.test?.join(' ')).toContain('-username edgeke -password "$INFLUXDB_ADMIN_PASSWORD"');
  });

  it('pins every pulled image to a release', () => {
    for (const [name, definition] of Object.entries(services)) {
      if (definition.build !== undefined) continue;
      expect(definition.image, name).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+$/);
    }
  });

  it('gives EdgeKE longer to stop than its drain deadline, so SIGTERM drains and flushes before SIGKILL', () => {
    const runSource = readFileSync(join(ROOT, 'src', 'cli', 'commands', 'run.ts'), 'utf8');
    const defaultDrainMs = Number(/values\['drain-timeout-ms'\] \?\? ([\d_]+)/.exec(runSource)?.[1]?.replaceAll('_', ''));
    expect(defaultDrainMs).toBeGreaterThan(0);
    for (const name of ['edgeke', 'edgeke-worker']) {
      const definition = service(name) as HardenedService;
      const command = definition.command ?? [];
      const flag = command.indexOf('--drain-timeout-ms');
      const drainMs = flag === -1 ? defaultDrainMs : Number(command[flag + 1]);
      // The service gives the drain its deadline plus one second before it gives up (src/pipeline/start-service.ts),
      // then closes telemetry: a margin of at least 5 s on top.
      expect(seconds(definition.stop_grace_period) * 1000, name).toBeGreaterThanOrEqual(drainMs + 1_000 + 5_000);
    }
  });

  it('keeps CI on Node 20 while the image moves on', () => {
    const engines = (JSON.parse(read('package.json')) as { engines?: { node?: string } }).engines?.node ?? '';
    expect(engines).toMatch(/>=20\.\d+ <21/);
    expect(read('.ci/run')).toMatch(/Node 20/);
  });
});
