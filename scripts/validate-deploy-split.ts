// The split-deployment checks of validate-deploy.ts (docker-compose default profile and the
// Kubernetes manifests), from the code's own declarations rather than a hand-kept list:
//   - secrets: each container mounts exactly the secrets its entry point's modules declare
//     (ServiceModule.secrets + RUNTIME_SECRETS, evaluated on the container's environment);
//   - routes: the edge (nginx in compose, the ingress-nginx Ingress in Kubernetes) routes exactly
//     each module's mobilePackages to that service's edge listener;
//   - ports: only the edge publishes; services scale (no host ports, no fixed container names);
//   - connections: every replica's DB_POOL_MAX fits PostgreSQL's max_connections.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceModules } from '../packages/backend/src/service-modules';
import {
  RUNTIME_SECRETS,
  processSecretDeclarations,
  secretApplies,
  secretRequired,
  type SecretDeclaration,
} from '../packages/runtime/src/process-secrets';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
export type Segment = string | number;
export type Report = (path: Segment[], message: string) => void;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function obj(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}
function arr(value: unknown): Json[] {
  return Array.isArray(value) ? value : [];
}
function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

// --- what the code declares -------------------------------------------------------------------

export interface DeployedModule {
  name: string;
  secrets: readonly SecretDeclaration[];
  mobilePackages: readonly string[] | undefined;
}

export const deployedModules: DeployedModule[] = serviceModules.map((m) => ({
  name: m.name,
  secrets: m.secrets ?? [],
  mobilePackages: m.mobilePackages,
}));

/** The migration entry point reads the database URL and nothing else (packages/backend/src/migrate.ts). */
const MIGRATE_SECRETS = RUNTIME_SECRETS.filter((s) => s.env === 'DATABASE_URL');

/** Every variable any process may read as a secret or a secret's setting. */
const KNOWN_SECRET_VARIABLES = new Set(processSecretDeclarations(deployedModules).map((s) => s.env));

/** The modules an image entry point (a TypeScript source path) runs, or undefined for other tools. */
export function modulesOfEntry(source: string): { modules: DeployedModule[]; declarations: SecretDeclaration[] } | undefined {
  if (source === 'packages/backend/src/main.ts')
    return { modules: deployedModules, declarations: processSecretDeclarations(deployedModules) };
  if (source === 'packages/backend/src/migrate.ts') return { modules: [], declarations: [...MIGRATE_SECRETS] };
  const name = /^services\/([\w-]+)\/src\/main\.ts$/.exec(source)?.[1];
  const module = deployedModules.find((m) => m.name === name);
  return module ? { modules: [module], declarations: processSecretDeclarations([module]) } : undefined;
}

/** Which module serves each mobile package, and the declaration problems (a module without mobilePackages). */
export function mobileRoutes(): { routes: Map<string, string>; problems: string[] } {
  const routes = new Map<string, string>();
  const problems: string[] = [];
  for (const m of deployedModules) {
    if (m.mobilePackages === undefined) {
      problems.push(`module ${m.name} declares no mobilePackages: the edge cannot know what to route to it`);
      continue;
    }
    for (const p of m.mobilePackages) {
      const other = routes.get(p);
      if (other) problems.push(`package ${p} is declared by both ${other} and ${m.name}`);
      else routes.set(p, m.name);
    }
  }
  return { routes, problems };
}

/**
 * The secret checks shared by compose and Kubernetes. `env` is the container's environment as
 * the process will see it (values of Secret-sourced variables may be placeholders); `mountedFiles`
 * maps each path a secret is mounted at (a file, or a directory ending in "/") to where it is.
 */
export function checkSecretScope(args: {
  service: string;
  declarations: SecretDeclaration[];
  env: Record<string, string>;
  mountedFiles: Map<string, Segment[]>;
  envPath: (name: string) => Segment[];
  report: Report;
}): void {
  const { service, declarations, env, mountedFiles, envPath, report } = args;
  const applicable = declarations.filter((d) => secretApplies(d, env));
  const isMounted = (path: string) => [...mountedFiles.keys()].some((m) => (m.endsWith('/') ? path.startsWith(m) : path === m));
  const used = new Set<string>();
  for (const d of applicable) {
    const value = env[d.env];
    if (value === undefined || value === '') {
      if (secretRequired(d, env)) {
        const unless = d.unless && 'is' in d.unless ? ` (or ${d.unless.env}=${d.unless.is})` : '';
        report(envPath(d.env), `${service} needs ${d.env} (${d.what})${unless}`);
      }
      continue;
    }
    if (d.form !== 'file') continue;
    if (!isMounted(value)) report(envPath(d.env), `${d.env}=${value} is not a file ${service} mounts from a secret`);
    for (const m of mountedFiles.keys()) if (m.endsWith('/') ? value.startsWith(m) : value === m) used.add(m);
  }
  for (const [mount, path] of mountedFiles) {
    if (!used.has(mount)) report(path, `${service} mounts ${mount}, which no secret it reads names (mount only what the code declares)`);
  }
  const applicableNames = new Set(applicable.map((d) => d.env));
  for (const name of Object.keys(env)) {
    if (KNOWN_SECRET_VARIABLES.has(name) && !applicableNames.has(name)) {
      report(envPath(name), `${service} sets ${name}, which its code does not read here (a secret it must not hold)`);
    }
  }
}

// --- nginx configuration ----------------------------------------------------------------------

export interface NginxDirective {
  name: string;
  args: string[];
  children?: NginxDirective[];
}

/** Just enough of nginx's grammar for the checks: directives, arguments, blocks, quotes, comments. */
export function parseNginx(text: string): NginxDirective[] {
  const tokens: string[] = [];
  const re = /#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"'#]+)/g;
  for (const m of text.matchAll(re)) {
    if (m[0].startsWith('#')) continue;
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
  }
  let i = 0;
  const block = (): NginxDirective[] => {
    const out: NginxDirective[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t === '}') return out;
      const d: NginxDirective = { name: t, args: [] };
      while (i < tokens.length && tokens[i] !== ';' && tokens[i] !== '{') d.args.push(tokens[i++]!);
      if (tokens[i] === '{') {
        i++;
        d.children = block();
      } else i++;
      out.push(d);
    }
    return out;
  };
  return block();
}

function all(directives: NginxDirective[], name: string): NginxDirective[] {
  return directives.flatMap((d) => [...(d.name === name ? [d] : []), ...all(d.children ?? [], name)]);
}

const CERTIFICATE_DIRECTIVES = [
  'ssl_certificate',
  'ssl_certificate_key',
  'ssl_client_certificate',
  'ssl_trusted_certificate',
  'grpc_ssl_certificate',
  'grpc_ssl_certificate_key',
  'grpc_ssl_trusted_certificate',
];

/**
 * The proto package an edge path routes: a package prefix (`/kfrm.api.auth.`) or one gRPC
 * service (`/kfrm.api.auth.LoginService/`, or without the slash as a Prefix path).
 */
export function packageOfPath(path: string): { pkg: string; form: 'package' | 'service' } | undefined {
  const pkg = /^\/(kfrm\.[\w.]+)\.$/.exec(path)?.[1];
  if (pkg) return { pkg, form: 'package' };
  const service = /^\/(kfrm\.[\w.]+)\.[A-Z]\w*\/?$/.exec(path)?.[1];
  return service ? { pkg: service, form: 'service' } : undefined;
}

/**
 * What the generated edge configuration says other processes need ("# <service> needs VAR=value"
 * in its header, e.g. the reflection lists): the deployment must set exactly that.
 */
export function edgeConfigRequirements(text: string): { service: string; env: string; value: string }[] {
  return [...text.matchAll(/^# ([\w-]+) needs ([A-Z][A-Z0-9_]*)=(\S*)$/gm)].map((m) => ({ service: m[1]!, env: m[2]!, value: m[3]! }));
}

/** The compose edge configuration scripts/edge-config.ts generates (committed). */
export function composeEdgeConfigFile(deployRoot: string): { file: string; text: string } | undefined {
  const real = 'deploy/compose/edge/nginx.conf';
  if (existsSync(join(deployRoot, real))) return { file: real, text: readFileSync(join(deployRoot, real), 'utf8') };
  return undefined;
}

// --- compose ----------------------------------------------------------------------------------

export interface ComposeApp {
  name: string;
  service: JsonObject;
  /** The TypeScript entry point its command runs. */
  source: string;
}

function composeEnv(service: JsonObject): Record<string, string> {
  const raw = service['environment'];
  const env: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const [k, ...v] = String(item).split('=');
      if (k) env[k] = v.join('=');
    }
  } else {
    for (const [k, v] of Object.entries(obj(raw))) if (v !== null) env[k] = String(v);
  }
  return env;
}

function portOf(address: string | undefined): number | undefined {
  const m = address ? /:(\d+)$/.exec(address) : null;
  return m ? Number(m[1]) : undefined;
}

/** Compose's short port syntax: [host_ip:][host_port:]container_port[/proto]. */
function publishedPort(spec: Json): { hostIp?: string; host?: string; container: string } {
  if (isObject(spec)) {
    return {
      hostIp: str(spec['host_ip']),
      host: spec['published'] === undefined ? undefined : String(spec['published']),
      container: String(spec['target']),
    };
  }
  const text = String(spec).replace(/\/(tcp|udp|sctp)$/, '');
  const parts = text.startsWith('[') ? (/^(\[[^\]]+\]):(.*)$/.exec(text)?.slice(1) ?? [text]) : [text];
  const rest = parts.length === 2 ? parts[1]!.split(':') : text.split(':');
  const ip = parts.length === 2 ? parts[0] : rest.length === 3 ? rest.shift() : undefined;
  if (rest.length === 2) return { hostIp: ip, host: rest[0], container: rest[1]! };
  return { hostIp: ip, container: rest[0]! };
}

export function checkComposeSplit(args: {
  compose: JsonObject;
  apps: ComposeApp[];
  deployRoot: string;
  sourceRoot: string;
  report: Report;
  reportFile: (file: string, message: string) => void;
}): void {
  const { compose, apps, report } = args;
  const services = obj(compose['services']);
  const inDefaultProfile = (s: JsonObject) => arr(s['profiles']).length === 0;
  const edgeName = Object.keys(services).find((n) => /^nginx(:|$)/.test(str(obj(services[n])['image']) ?? ''));

  // Ports: only the edge publishes; services scale.
  for (const [name, raw] of Object.entries(services)) {
    const service = obj(raw);
    if (!inDefaultProfile(service)) continue;
    if (name !== edgeName && arr(service['ports']).length > 0) {
      report(['services', name, 'ports'], `${name} publishes host ports: only the edge does (a fixed host port also stops --scale)`);
    }
    if (service['container_name'] !== undefined && name !== edgeName) {
      report(['services', name, 'container_name'], `${name} has a fixed container_name, which stops --scale`);
    }
  }
  if (!edgeName) {
    report(['services'], 'no edge: the default profile needs an nginx service in front of the split services');
  }

  // Secrets: exactly what each entry point's modules declare.
  const mounts = (name: string, service: JsonObject) => {
    const files = new Map<string, Segment[]>();
    arr(service['secrets']).forEach((s, i) => {
      const source = typeof s === 'string' ? s : str(obj(s)['source']);
      const target = typeof s === 'string' ? s : (str(obj(s)['target']) ?? source);
      if (target) files.set(target.startsWith('/') ? target : `/run/secrets/${target}`, ['services', name, 'secrets', i]);
    });
    return files;
  };
  for (const app of apps) {
    const of = modulesOfEntry(app.source);
    if (!of) continue;
    checkSecretScope({
      service: app.name,
      declarations: of.declarations,
      env: composeEnv(app.service),
      mountedFiles: mounts(app.name, app.service),
      envPath: (n) => ['services', app.name, 'environment', n],
      report,
    });
  }

  // Connections: every container's pool within PostgreSQL's max_connections.
  const postgresName = Object.keys(services).find((n) => /^postgres(:|$)/.test(str(obj(services[n])['image']) ?? ''));
  const postgres = obj(services[postgresName ?? '']);
  const command = arr(postgres['command']).map(String).join(' ');
  const maxConnections = Number(/max_connections=(\d+)/.exec(command)?.[1] ?? 100);
  const reserved = Number(/superuser_reserved_connections=(\d+)/.exec(command)?.[1] ?? 3);
  const capacity = obj(compose['x-kfrm-capacity']);
  const maxContainers = capacity['max-service-containers'];
  const poolOf = (app: ComposeApp): number | undefined => {
    const value = composeEnv(app.service)['DB_POOL_MAX'];
    return value === undefined ? undefined : Number(value);
  };
  const split = apps.filter((a) => inDefaultProfile(a.service) && /^services\//.test(a.source));
  const migrate = apps.find((a) => a.source === 'packages/backend/src/migrate.ts');
  for (const app of apps) {
    if (poolOf(app) === undefined) {
      report(
        ['services', app.name, 'environment'],
        `${app.name} leaves DB_POOL_MAX unset (default 10 per process): set it so every replica fits max_connections`,
      );
    }
  }
  if (typeof maxContainers !== 'number') {
    report(['x-kfrm-capacity'], 'x-kfrm-capacity.max-service-containers (how many service containers the pools are sized for) is missing');
  } else {
    const replicas = split.reduce((n, a) => n + Number(obj(a.service['deploy'])['replicas'] ?? 1), 0);
    if (maxContainers < replicas) {
      report(
        ['x-kfrm-capacity', 'max-service-containers'],
        `${maxContainers} is fewer than the ${replicas} service containers the file starts`,
      );
    }
    const pool = Math.max(0, ...split.map((a) => poolOf(a) ?? 10));
    const migratePool = migrate ? (poolOf(migrate) ?? 10) : 0;
    const needed = maxContainers * pool + migratePool + reserved;
    if (needed > maxConnections) {
      report(
        ['services', postgresName ?? 'postgres', 'command'],
        `${maxContainers} service containers x DB_POOL_MAX ${pool} + migrate ${migratePool} + ${reserved} reserved = ${needed} connections, more than max_connections=${maxConnections}`,
      );
    }
  }

  // The edge: its configuration's certificates are exactly its mounts, and it routes what the modules serve.
  if (!edgeName) return;
  const edge = obj(services[edgeName]);
  const config = composeEdgeConfigFile(args.deployRoot);
  const confMounted = arr(edge['volumes']).some((v) =>
    typeof v === 'string'
      ? /:\/etc\/nginx\/nginx\.conf(:ro)?$/.test(v) && v.startsWith('./deploy/compose/edge/nginx.conf')
      : str(obj(v)['target']) === '/etc/nginx/nginx.conf',
  );
  if (!confMounted)
    report(['services', edgeName, 'volumes'], 'the edge does not mount ./deploy/compose/edge/nginx.conf at /etc/nginx/nginx.conf');
  if (!config) {
    args.reportFile('deploy/compose/edge/nginx.conf', 'missing (generate it with scripts/edge-config.ts)');
    return;
  }
  const conf = parseNginx(config.text);
  for (const need of edgeConfigRequirements(config.text)) {
    const app = apps.find((a) => a.name === need.service);
    const value = app ? composeEnv(app.service)[need.env] : undefined;
    if (value !== need.value) {
      report(
        ['services', need.service, 'environment', need.env],
        `${config.file} needs ${need.env} on ${need.service} set to what it lists (${value === undefined ? 'unset' : 'differs'})`,
      );
    }
  }
  const edgeMounts = mounts(edgeName, edge);
  const referenced = new Set<string>();
  for (const d of CERTIFICATE_DIRECTIVES.flatMap((n) => all(conf, n))) {
    const path = d.args[0] ?? '';
    referenced.add(path);
    if (!edgeMounts.has(path)) args.reportFile(config.file, `${d.name} ${path}: not a secret the compose edge mounts`);
  }
  for (const [mount, path] of edgeMounts) {
    if (!referenced.has(mount)) report(path, `the edge mounts ${mount}, which its nginx configuration does not use`);
  }
  // No service but the edge holds the key nginx serves the app with.
  const keySecret = [...edgeMounts].find(([mount]) => all(conf, 'ssl_certificate_key').some((d) => d.args[0] === mount));
  if (keySecret) {
    const source = str(obj(arr(edge['secrets'])[Number(keySecret[1][3])])['source']);
    for (const [name, raw] of Object.entries(services)) {
      if (name === edgeName || !inDefaultProfile(obj(raw))) continue;
      if (arr(obj(raw)['secrets']).some((s) => (typeof s === 'string' ? s : str(obj(s)['source'])) === source)) {
        report(['services', name, 'secrets'], `${name} mounts ${source}, the server key: only the edge may hold it`);
      }
    }
  }

  const upstreams = new Map<string, { host: string; port: number }>();
  for (const u of all(conf, 'upstream')) {
    const server = (u.children ?? []).find((c) => c.name === 'server');
    const m = server ? /^([\w.-]+):(\d+)$/.exec(server.args[0] ?? '') : null;
    if (u.args[0] && m) upstreams.set(u.args[0], { host: m[1]!, port: Number(m[2]) });
  }
  const appByName = new Map(apps.map((a) => [a.name, a]));
  const serverOn = (port: number) =>
    all(conf, 'server').find((s) =>
      (s.children ?? []).some((c) => c.name === 'listen' && portOf(`:${c.args[0]?.split(':').pop()}`) === port),
    );
  const edgePorts = arr(edge['ports']).map(publishedPort);
  const app = edgePorts.find((p) => p.host === '50051');
  if (app?.container !== '50051')
    report(['services', edgeName, 'ports'], 'the edge publishes the app on 50051, the embedded default’s port');
  const operator = edgePorts.find((p) => p.host === '50052');
  if (operator?.hostIp !== '127.0.0.1')
    report(['services', edgeName, 'ports'], 'the edge publishes the operator address on 127.0.0.1:50052 (loopback only)');

  const { routes, problems } = mobileRoutes();
  for (const p of problems) args.reportFile(config.file, p);
  const checkServer = (port: number, kind: 'edge' | 'internal') => {
    const server = serverOn(port);
    if (!server) {
      args.reportFile(config.file, `no server listens on ${port}`);
      return new Map<string, string>();
    }
    const routed = new Map<string, string>();
    for (const location of all(server.children ?? [], 'location')) {
      const prefix = location.args[location.args.length - 1] ?? '';
      const pass = (location.children ?? []).find((c) => c.name === 'grpc_pass')?.args[0];
      if (!pass) continue;
      const target = pass.replace(/^grpcs?:\/\//, '');
      const upstream =
        upstreams.get(target) ??
        (/^([\w.-]+):(\d+)$/.test(target) ? { host: target.split(':')[0]!, port: Number(target.split(':')[1]) } : undefined);
      const backend = upstream ? appByName.get(upstream.host) : undefined;
      if (!upstream || !backend) {
        args.reportFile(config.file, `location ${prefix}: ${pass} is not a compose service`);
        continue;
      }
      const env = composeEnv(backend.service);
      const wantedPort = portOf(kind === 'edge' ? env['KFRM_EDGE_LISTEN'] : env['KFRM_INTERNAL_LISTEN']);
      if (wantedPort !== upstream.port) {
        args.reportFile(
          config.file,
          `location ${prefix}: ${upstream.host}:${upstream.port} is not ${upstream.host}'s ${kind} listener (${wantedPort ?? 'none'})`,
        );
      }
      if (kind === 'edge' && !/^grpcs:/.test(pass))
        args.reportFile(config.file, `location ${prefix}: the edge listener takes mTLS only (grpcs://)`);
      const pkg = packageOfPath(prefix)?.pkg;
      if (pkg && kind === 'edge') {
        const owner = routes.get(pkg);
        if (owner && owner !== upstream.host)
          args.reportFile(config.file, `location ${prefix} goes to ${upstream.host}, but the ${owner} module serves ${pkg}`);
        if (!routed.has(pkg) || owner === upstream.host) routed.set(pkg, upstream.host);
      }
    }
    return routed;
  };
  const routed = checkServer(50051, 'edge');
  for (const [pkg, service] of routes) {
    if (!routed.has(pkg)) args.reportFile(config.file, `/${pkg}. is not routed (the ${service} module serves it)`);
  }
  for (const pkg of routed.keys())
    if (!routes.has(pkg)) args.reportFile(config.file, `/${pkg}. is routed, but no module declares it in mobilePackages`);
  checkServer(50052, 'internal');
}

// --- Kubernetes -------------------------------------------------------------------------------

export interface KubeObject {
  value: JsonObject;
  report: Report;
}

/** Ingress paths that are not a proto package: health and reflection, answered through the edge. */
const EDGE_ONLY_PATHS = new Set(['/grpc.health.v1.Health/', '/grpc.reflection.']);

const INGRESS_ANNOTATIONS: Record<string, string> = {
  'nginx.ingress.kubernetes.io/backend-protocol': 'GRPCS',
  'nginx.ingress.kubernetes.io/auth-tls-verify-client': 'optional_no_ca',
  'nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream': 'true',
};
/** The dedicated edge controller's IngressClass (deploy/edge-controller/controller-config.example.yaml). */
const EDGE_INGRESS_CLASS = 'kfrm-edge';
/**
 * The forwarded-certificate headers a service's edge listener reads besides nginx's own
 * ssl-client-cert (Envoy's and HAProxy's forms): the edge must clear a phone's copies.
 */
const OTHER_FORWARDED_CERTIFICATE_HEADERS = ['x-forwarded-client-cert', 'x-ssl-client-der'];
/** What the edge controller's http-snippet must set so its gRPC upstreams are mTLS to the right service. */
const EDGE_GRPC_SSL = ['grpc_ssl_certificate', 'grpc_ssl_certificate_key', 'grpc_ssl_trusted_certificate', 'grpc_ssl_name'];
/** Long enough for a notification stream that stays silent (nginx's default 60 s cuts it). */
const MIN_STREAM_TIMEOUT_S = 3600;

function kindOf(o: KubeObject): string | undefined {
  return str(o.value['kind']);
}
function nameOf(o: KubeObject): string | undefined {
  return str(obj(o.value['metadata'])['name']);
}

/** Keys of a Secret or ConfigMap defined under deploy/ (placeholders in secrets.example.yaml count). */
function keysOf(o: KubeObject | undefined): Record<string, string> {
  if (!o) return {};
  const out: Record<string, string> = {};
  for (const field of ['data', 'stringData', 'binaryData']) {
    for (const [k, v] of Object.entries(obj(o.value[field]))) out[k] = typeof v === 'string' ? v : '';
  }
  return out;
}

interface PodContainer {
  owner: KubeObject;
  kind: string;
  name: string;
  /** Path of the container inside the owner. */
  path: Segment[];
  container: JsonObject;
  spec: JsonObject;
  labels: JsonObject;
  source: string | undefined;
}

export function checkKubernetesSplit(args: {
  objects: KubeObject[];
  entrySource: (entry: string) => string | undefined;
  reportDeploy: (message: string) => void;
  /** The edge configuration's header requirements (the reflection list the Ingress's reflection path needs). */
  edgeRequirements?: { service: string; env: string; value: string }[];
}): void {
  const { objects, reportDeploy } = args;
  const find = (kind: string, name: string | undefined) => objects.find((o) => kindOf(o) === kind && nameOf(o) === name);
  const secretNamed = (name: string | undefined) => find('Secret', name);
  const configMapNamed = (name: string | undefined) => find('ConfigMap', name);

  const containers: PodContainer[] = objects.flatMap((o) => {
    const kind = kindOf(o);
    if (kind !== 'Deployment' && kind !== 'Job' && kind !== 'StatefulSet') return [];
    const template = obj(obj(o.value['spec'])['template']);
    const spec = obj(template['spec']);
    return arr(spec['containers']).map((c, i) => ({
      owner: o,
      kind,
      name: nameOf(o) ?? '?',
      path: ['spec', 'template', 'spec', 'containers', i] as Segment[],
      container: obj(c),
      spec,
      labels: obj(obj(template['metadata'])['labels']),
      source: args.entrySource(str(arr(obj(c)['args'])[0]) ?? ''),
    }));
  });

  const envOf = (c: PodContainer) => {
    const env: Record<string, string> = {};
    const paths = new Map<string, Segment[]>();
    arr(c.container['envFrom']).forEach((e, i) => {
      const from = obj(e);
      const prefix = str(from['prefix']) ?? '';
      const source = from['configMapRef']
        ? configMapNamed(str(obj(from['configMapRef'])['name']))
        : secretNamed(str(obj(from['secretRef'])['name']));
      for (const [k, v] of Object.entries(keysOf(source))) {
        env[prefix + k] = v;
        paths.set(prefix + k, [...c.path, 'envFrom', i]);
      }
    });
    arr(c.container['env']).forEach((e, i) => {
      const item = obj(e);
      const name = str(item['name']);
      if (!name) return;
      const valueFrom = obj(item['valueFrom']);
      const ref = obj(valueFrom['configMapKeyRef']);
      const value =
        str(item['value']) ??
        (str(ref['key']) ? keysOf(configMapNamed(str(ref['name'])))[str(ref['key'])!] : undefined) ??
        (Object.keys(valueFrom).length > 0 ? '<from a reference>' : '');
      env[name] = value;
      paths.set(name, [...c.path, 'env', i]);
    });
    return { env, paths };
  };

  // Secrets: each container mounts exactly what its entry point's modules declare.
  const mountedSecretNames = new Map<string, string[]>();
  for (const c of containers) {
    const volumes = new Map(arr(c.spec['volumes']).map((v, i) => [str(obj(v)['name']) ?? '', { volume: obj(v), index: i }]));
    const mountedFiles = new Map<string, Segment[]>();
    arr(c.container['volumeMounts']).forEach((m, i) => {
      const mount = obj(m);
      const volume = volumes.get(str(mount['name']) ?? '');
      const secret = obj(volume?.volume['secret']);
      const secretName = str(secret['secretName']);
      if (!secretName) return;
      mountedSecretNames.set(secretName, [...(mountedSecretNames.get(secretName) ?? []), c.name]);
      const mountPath = (str(mount['mountPath']) ?? '').replace(/\/$/, '');
      if (str(mount['subPath'])) {
        mountedFiles.set(mountPath, [...c.path, 'volumeMounts', i]);
        return;
      }
      const items = arr(secret['items']);
      const files = items.length > 0 ? items.map((it) => str(obj(it)['path']) ?? '') : Object.keys(keysOf(secretNamed(secretName)));
      for (const f of files) mountedFiles.set(`${mountPath}/${f}`, [...c.path, 'volumeMounts', i]);
    });
    for (const e of arr(c.container['envFrom'])) {
      const secretName = str(obj(obj(e)['secretRef'])['name']);
      if (secretName) mountedSecretNames.set(secretName, [...(mountedSecretNames.get(secretName) ?? []), c.name]);
    }
    if (!c.source) continue;
    const of = modulesOfEntry(c.source);
    if (!of) continue;
    const { env, paths } = envOf(c);
    checkSecretScope({
      service: c.name,
      declarations: of.declarations,
      env,
      mountedFiles,
      envPath: (n) => paths.get(n) ?? [...c.path],
      report: c.owner.report,
    });
    if (env['DB_POOL_MAX'] === undefined) {
      c.owner.report(
        [...c.path],
        `${c.name} leaves DB_POOL_MAX unset (default 10 per process): set it so every replica fits max_connections`,
      );
    }
  }

  // Reflection through the edge answers for every phone-facing service (the Ingress routes it to one service).
  for (const need of (args.edgeRequirements ?? []).filter((n) => n.env === 'KFRM_EDGE_REFLECTION_SERVICES')) {
    for (const c of containers.filter((k) => k.source === `services/${need.service}/src/main.ts`)) {
      const { env, paths } = envOf(c);
      if (env[need.env] !== need.value) {
        c.owner.report(
          paths.get(need.env) ?? [...c.path],
          `${need.env} must list every phone-facing service, as the edge configuration does (${env[need.env] === undefined ? 'unset' : 'differs'})`,
        );
      }
    }
  }

  // Connections: every pod's pool, a rollout's surge included, within max_connections.
  const limits = objects.find((o) => obj(obj(o.value['metadata'])['annotations'])['kfrm/postgres-max-connections'] !== undefined);
  if (!limits) {
    reportDeploy('no ConfigMap carries the kfrm/postgres-max-connections annotation: the pool sizes cannot be checked against PostgreSQL');
  } else {
    const annotations = obj(obj(limits.value['metadata'])['annotations']);
    const maxConnections = Number(annotations['kfrm/postgres-max-connections']);
    const reserved = Number(annotations['kfrm/postgres-reserved-connections'] ?? 3);
    let needed = reserved;
    const parts: string[] = [];
    for (const c of containers) {
      if (!c.source) continue;
      const pool = Number(envOf(c).env['DB_POOL_MAX'] ?? 10);
      const spec = obj(c.owner.value['spec']);
      let pods: number;
      if (c.kind === 'Job') pods = Number(spec['parallelism'] ?? 1);
      else {
        const replicas = Number(spec['replicas'] ?? 1);
        const surge = obj(obj(spec['strategy'])['rollingUpdate'])['maxSurge'] ?? '25%';
        pods =
          replicas +
          (typeof surge === 'string' && surge.endsWith('%') ? Math.ceil((replicas * Number(surge.slice(0, -1))) / 100) : Number(surge));
      }
      needed += pods * pool;
      parts.push(`${c.name} ${pods}x${pool}`);
    }
    if (needed > maxConnections) {
      limits.report(
        ['metadata', 'annotations', 'kfrm/postgres-max-connections'],
        `pods x DB_POOL_MAX (${parts.join(', ')}) + ${reserved} reserved = ${needed} connections, more than max_connections=${maxConnections}`,
      );
    }
  }

  // The edge: Ingresses route exactly what the modules serve, to the services' edge listeners.
  const ingresses = objects.filter((o) => kindOf(o) === 'Ingress');
  if (ingresses.length === 0) {
    reportDeploy('no Ingress: nothing routes the app to the services (docs/adr/0008-kubernetes-ingress-nginx.md)');
    return;
  }
  const { routes, problems } = mobileRoutes();
  for (const p of problems) reportDeploy(p);
  const routed = new Map<string, string>();
  const serverTlsSecrets = new Set<string>();
  for (const ingress of ingresses) {
    const spec = obj(ingress.value['spec']);
    const annotations = obj(obj(ingress.value['metadata'])['annotations']);
    if (spec['ingressClassName'] !== EDGE_INGRESS_CLASS)
      ingress.report(
        ['spec', 'ingressClassName'],
        `the edge is the dedicated ingress-nginx controller: ingressClassName ${EDGE_INGRESS_CLASS}`,
      );
    for (const [key, wanted] of Object.entries(INGRESS_ANNOTATIONS)) {
      if (annotations[key] !== wanted) ingress.report(['metadata', 'annotations', key], `${key} must be "${wanted}"`);
    }
    for (const key of ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout']) {
      const seconds = Number(annotations[key] ?? 60);
      if (!(seconds >= MIN_STREAM_TIMEOUT_S))
        ingress.report(
          ['metadata', 'annotations', key],
          `${key} ${seconds} s would cut an idle notification stream: at least ${MIN_STREAM_TIMEOUT_S}`,
        );
    }
    const secretRef = (key: string, keys: string[]) => {
      const value = str(annotations[key]);
      const [namespace, name] = value?.includes('/') ? value.split('/') : [undefined, value];
      const secret = secretNamed(name);
      if (!value || !secret)
        return ingress.report(['metadata', 'annotations', key], `${key} must name a Secret defined under deploy/ as <namespace>/<name>`);
      const ns = str(obj(secret.value['metadata'])['namespace']);
      if (namespace && ns && namespace !== ns)
        ingress.report(['metadata', 'annotations', key], `${key}: Secret ${name} is in namespace ${ns}, not ${namespace}`);
      const missing = keys.filter((k) => !(k in keysOf(secret)));
      if (missing.length > 0) ingress.report(['metadata', 'annotations', key], `${key}: Secret ${name} lacks ${missing.join(', ')}`);
    };
    secretRef('nginx.ingress.kubernetes.io/auth-tls-secret', ['ca.crt']);
    const tls = arr(spec['tls']);
    if (tls.length === 0)
      ingress.report(['spec', 'tls'], 'the edge terminates the phone’s TLS: spec.tls with the server certificate Secret');
    for (const t of tls) {
      const name = str(obj(t)['secretName']);
      if (name) serverTlsSecrets.add(name);
    }
    arr(spec['rules']).forEach((rule, ri) => {
      arr(obj(obj(rule)['http'])['paths']).forEach((p, pi) => {
        const at: Segment[] = ['spec', 'rules', ri, 'http', 'paths', pi];
        const item = obj(p);
        const path = str(item['path']) ?? '';
        const backend = obj(obj(item['backend'])['service']);
        const serviceName = str(backend['name']);
        const port = obj(backend['port']);
        if (packageOfPath(path)?.form === 'package' && item['pathType'] !== 'ImplementationSpecific') {
          ingress.report(
            [...at, 'pathType'],
            'a package prefix such as /kfrm.api.x. needs ImplementationSpecific (Prefix matches whole path segments)',
          );
        }
        const service = find('Service', serviceName);
        if (!service) return ingress.report([...at, 'backend'], `Service ${serviceName} is not defined under deploy/`);
        const servicePort = arr(obj(service.value['spec'])['ports'])
          .map(obj)
          .find((sp) => (port['name'] !== undefined ? sp['name'] === port['name'] : sp['port'] === port['number']));
        const selector = obj(obj(service.value['spec'])['selector']);
        const pods = containers.filter(
          (c) => c.kind !== 'Job' && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => c.labels[k] === v),
        );
        const targetPort = servicePort?.['targetPort'];
        for (const c of pods) {
          const containerPort =
            typeof targetPort === 'number'
              ? targetPort
              : arr(c.container['ports'])
                  .map(obj)
                  .find((cp) => cp['name'] === targetPort)?.['containerPort'];
          const edgePort = portOf(envOf(c).env['KFRM_EDGE_LISTEN']);
          if (edgePort === undefined || containerPort !== edgePort) {
            ingress.report(
              [...at, 'backend'],
              `${path} reaches ${serviceName} on ${String(containerPort ?? 'no port')}, not its edge listener (${edgePort ?? 'KFRM_EDGE_LISTEN unset'})`,
            );
          }
        }
        if (EDGE_ONLY_PATHS.has(path)) return;
        const pkg = packageOfPath(path)?.pkg;
        if (!pkg) return ingress.report([...at, 'path'], `${path} is not a /<proto package>. prefix or a /<package>.<Service>/ path`);
        const owner = routes.get(pkg);
        const runs = pods.map((c) => c.source).find((s) => s !== undefined);
        const servedBy = runs ? /^services\/([\w-]+)\//.exec(runs)?.[1] : undefined;
        if (!owner) ingress.report([...at, 'path'], `${path} is routed, but no module declares ${pkg} in mobilePackages`);
        else if (servedBy !== owner)
          ingress.report(
            [...at, 'backend'],
            `${path} goes to ${serviceName} (${servedBy ?? 'no service'}), but the ${owner} module serves it`,
          );
        routed.set(pkg, servedBy ?? '?');
      });
    });
  }
  for (const [pkg, service] of routes) {
    if (!routed.has(pkg)) reportDeploy(`no Ingress path routes /${pkg}. (the ${service} module serves it)`);
  }

  // The edge controller's own settings: mTLS to each service under its name, phones' forged headers cleared.
  const controller = objects.find((o) => kindOf(o) === 'ConfigMap' && obj(o.value['data'])['http-snippet'] !== undefined);
  let controllerNamespace: string | undefined;
  if (!controller) {
    reportDeploy(
      'no edge controller ConfigMap (http-snippet with the grpc_ssl_* settings): the Ingresses would reach the edge listeners without the edge certificate',
    );
  } else {
    controllerNamespace = str(obj(controller.value['metadata'])['namespace']);
    const data = obj(controller.value['data']);
    const snippet = parseNginx(str(data['http-snippet']) ?? '');
    const value = (name: string) => snippet.find((d) => d.name === name)?.args[0];
    for (const name of EDGE_GRPC_SSL) {
      if (!value(name))
        controller.report(
          ['data', 'http-snippet'],
          `${name} is not set: the services' edge listeners take only the edge's certificate, checked by name`,
        );
    }
    if (value('grpc_ssl_verify') !== 'on')
      controller.report(['data', 'http-snippet'], 'grpc_ssl_verify on: the edge must check whom it calls');
    const files = ['grpc_ssl_certificate', 'grpc_ssl_certificate_key', 'grpc_ssl_trusted_certificate']
      .map(value)
      .filter((f): f is string => !!f);
    const basenames = files.map((f) => f.split('/').pop()!);
    const holder = objects.find(
      (o) =>
        kindOf(o) === 'Secret' &&
        str(obj(o.value['metadata'])['namespace']) === controllerNamespace &&
        basenames.every((b) => b in keysOf(o)),
    );
    if (!holder)
      controller.report(
        ['data', 'http-snippet'],
        `no Secret in namespace ${controllerNamespace ?? '?'} holds ${basenames.join(', ')} for the controller to mount`,
      );
    const headersRef = str(data['proxy-set-headers']);
    const headers = configMapNamed(headersRef?.split('/').pop());
    const cleared = keysOf(headers);
    const open = OTHER_FORWARDED_CERTIFICATE_HEADERS.filter((h) => cleared[h] !== '');
    if (!headers || open.length > 0) {
      controller.report(
        ['data', 'proxy-set-headers'],
        `a phone could send its own ${open.join(', ') || OTHER_FORWARDED_CERTIFICATE_HEADERS.join(', ')} through the edge: proxy-set-headers must clear them`,
      );
    }
  }
  for (const name of serverTlsSecrets) {
    const holders = mountedSecretNames.get(name);
    if (holders)
      reportDeploy(`Secret ${name} (the server key) is mounted by ${[...new Set(holders)].join(', ')}: only the Ingress may hold it`);
  }

  // NetworkPolicy: the edge listeners only from the ingress controller.
  const edgePorts = new Set(containers.map((c) => portOf(envOf(c).env['KFRM_EDGE_LISTEN'])).filter((p): p is number => p !== undefined));
  const policies = objects.filter((o) => kindOf(o) === 'NetworkPolicy');
  for (const port of edgePorts) {
    let allowed = false;
    for (const policy of policies) {
      arr(obj(policy.value['spec'])['ingress']).forEach((rule, i) => {
        const r = obj(rule);
        const ports = arr(r['ports']).map((p) => obj(p)['port']);
        if (ports.length > 0 && !ports.includes(port)) return;
        const from = arr(r['from']).map(obj);
        if (from.length === 0 || from.some((f) => f['namespaceSelector'] === undefined && f['podSelector'] === undefined)) {
          policy.report(['spec', 'ingress', i], `lets anyone reach the edge listener (${port}): only the ingress controller may`);
        } else if (from.every((f) => f['namespaceSelector'] !== undefined)) {
          const namespaces = from.map((f) => str(obj(obj(f['namespaceSelector'])['matchLabels'])['kubernetes.io/metadata.name']));
          if (controllerNamespace && namespaces.some((n) => n !== controllerNamespace)) {
            policy.report(
              ['spec', 'ingress', i],
              `lets namespace ${namespaces.join(', ')} reach the edge listener (${port}): only the edge controller's (${controllerNamespace})`,
            );
          } else allowed = true;
        } else
          policy.report(
            ['spec', 'ingress', i],
            `lets pods of this namespace reach the edge listener (${port}): only the ingress controller's namespace may`,
          );
      });
    }
    if (policies.length > 0 && !allowed)
      reportDeploy(`no NetworkPolicy rule lets the ingress controller reach the edge listener (${port})`);
  }
}
